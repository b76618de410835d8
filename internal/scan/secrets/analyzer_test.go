package secrets_test

import (
	"context"
	"sync"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/secrets"
)

// collecting runs the adapter inside a real catalog pass and keeps what it
// found; catalog.Result has no field for findings yet.
type collecting struct {
	*secrets.Analyzer
	mu    sync.Mutex
	found []secrets.Finding
}

func (c *collecting) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	fs, err := c.Findings(ctx, f)
	c.mu.Lock()
	c.found = append(c.found, fs...)
	c.mu.Unlock()
	return &catalog.Result{}, err
}

// TestAnalyzerInCatalogPass streams gzip layers through the catalog with
// the adapter: text files are scanned once, binaries, skipped trees and
// large executables are not.
func TestAnalyzerInCatalogPass(t *testing.T) {
	layer1 := catalogtest.Tar(
		catalogtest.File("app/.env", "GITHUB_TOKEN="+fakeGHP+"\n"),
		catalogtest.Entry{Name: "usr/local/bin/tool", Mode: 0o755, Body: append([]byte("\x7fELF\x00\x00"), fakeStripe...)},
		catalogtest.File("usr/share/doc/tool/README", "token: "+fakeGHP+"\n"),
		catalogtest.File("srv/node_modules/x/test/fixture.js", "const k = '"+fakeAKID+"';\n"),
	)
	layer2 := catalogtest.Tar(
		catalogtest.Entry{Name: "usr/local/bin/run.sh", Mode: 0o755, Body: []byte("#!/bin/sh\nexport STRIPE=" + fakeStripe + "\n")},
	)
	img := catalogtest.NewImage(catalogtest.Gzip(layer1), catalogtest.Gzip(layer2))
	a := &collecting{Analyzer: secrets.NewAnalyzer(newScanner(t))}
	cat, err := catalog.New([]catalog.Analyzer{a})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Catalog(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range a.found {
		got[f.Path+" "+f.RuleID] = true
	}
	want := map[string]bool{"/app/.env github-token": true, "/usr/local/bin/run.sh stripe-live-key": true}
	if len(got) != len(want) || !got["/app/.env github-token"] || !got["/usr/local/bin/run.sh stripe-live-key"] {
		t.Errorf("found %v, want %v", got, want)
	}
}
