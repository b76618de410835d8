package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/sbom"
)

// runSBOM runs `moat sbom ARGS` in-process.
func runSBOM(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"sbom"}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestSBOMCommand(t *testing.T) {
	layers, err := ct.FixtureLayers("../../internal/scan/catalog/testdata/fixture-src")
	if err != nil {
		t.Fatal(err)
	}
	layout := t.TempDir()
	if _, err := ct.WriteLayout(layout, "fixture", layers); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()

	table, err := runSBOM(t, "--cache-dir", cache, layout)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "libc6") || !strings.Contains(table, "glibc") || !strings.Contains(table, "distro: Debian GNU/Linux 12 (bookworm)") {
		t.Errorf("table output:\n%s", table)
	}

	out := filepath.Join(t.TempDir(), "inv.json")
	if _, err := runSBOM(t, "--cache-dir", cache, "-f", "json", "-o", out, "oci-layout:"+layout+":fixture"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var inv catalog.Inventory
	if err := json.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	deb := 0
	for _, p := range inv.Packages {
		if p.Type == "deb" {
			deb++
		}
	}
	if deb != 88 || len(inv.Layers) != 4 {
		t.Errorf("%d deb packages in %d layers", deb, len(inv.Layers))
	}
	if entries, _ := filepath.Glob(filepath.Join(cache, "*", "*.gob")); len(entries) != 4 {
		t.Errorf("%d layer results cached, want 4", len(entries))
	}

	for _, f := range []string{"cyclonedx", "spdx"} {
		doc, err := runSBOM(t, "--no-cache", "-f", f, layout)
		if err != nil || !json.Valid([]byte(doc)) {
			t.Errorf("-f %s: %v", f, err)
		}
	}

	if _, err := runSBOM(t, "-f", "xml", layout); !errors.Is(err, sbom.ErrUnknownFormat) {
		t.Errorf("-f xml: err = %v", err)
	}
	if _, err := runSBOM(t, "--no-cache", "--cache-dir", cache, layout); err == nil {
		t.Error("--no-cache with --cache-dir accepted")
	}
	if _, err := runSBOM(t, "--no-cache", filepath.Join(layout, "missing.tar")); err == nil {
		t.Error("missing source accepted")
	}
}
