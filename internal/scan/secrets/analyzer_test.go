package secrets_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/secrets"
)

// TestAnalyzerInCatalogPass streams gzip layers through the catalog with
// the analyzer: text files are scanned once, binaries, skipped trees and
// large executables are not; findings name their layer, path and line, a
// file replaced by a later layer loses its findings, and no finding holds
// the secret.
func TestAnalyzerInCatalogPass(t *testing.T) {
	layer1 := catalogtest.Tar(
		catalogtest.File("app/.env", "# settings\nGITHUB_TOKEN="+fakeGHP+"\n"),
		catalogtest.File("app/old.env", "GITHUB_TOKEN="+fakeGHP+"\n"),
		catalogtest.Entry{Name: "usr/local/bin/tool", Mode: 0o755, Body: append([]byte("\x7fELF\x00\x00"), fakeStripe...)},
		catalogtest.File("usr/share/doc/tool/README", "token: "+fakeGHP+"\n"),
		catalogtest.File("srv/node_modules/x/test/fixture.js", "const k = '"+fakeAKID+"';\n"),
	)
	layer2 := catalogtest.Tar(
		catalogtest.Entry{Name: "usr/local/bin/run.sh", Mode: 0o755, Body: []byte("#!/bin/sh\nexport STRIPE=" + fakeStripe + "\n")},
		catalogtest.File("app/old.env", "GITHUB_TOKEN=\n"),
	)
	img := catalogtest.NewImage(catalogtest.Gzip(layer1), catalogtest.Gzip(layer2))
	cat, err := catalog.New([]catalog.Analyzer{secrets.NewAnalyzer(newScanner(t))})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cat.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range inv.Findings {
		got = append(got, fmt.Sprintf("%s:%d %s %s layer%d", f.Path, f.Line, f.Kind, f.RuleID, slices.Index(inv.Layers, f.Layer)+1))
		if strings.Contains(f.Match, fakeGHP) || strings.Contains(f.Match, fakeStripe) || f.Match == "" {
			t.Errorf("finding %+v: match not redacted", f)
		}
	}
	want := []string{"/app/.env:2 secret github-token layer1", "/usr/local/bin/run.sh:2 secret stripe-live-key layer2"}
	if !slices.Equal(got, want) {
		t.Errorf("found %v\nwant  %v", got, want)
	}
}
