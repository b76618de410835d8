package catalog_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/diskcache"
)

// keyAnalyzer is a test seam: every line of a file under /etc/ holding
// KEY is a finding.
type keyAnalyzer struct{ calls atomic.Int64 }

func (*keyAnalyzer) Name() string { return "key" }
func (*keyAnalyzer) Version() int { return 1 }
func (*keyAnalyzer) Wants(p string, _ fs.FileMode, _ int64) bool {
	return strings.HasPrefix(p, "/etc/")
}

func (a *keyAnalyzer) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	a.calls.Add(1)
	b, err := io.ReadAll(f.Content)
	var res catalog.Result
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "KEY") {
			res.Findings = append(res.Findings, catalog.Finding{Kind: "secret", RuleID: "key", Severity: "HIGH", Line: i + 1, Match: "KE****"})
		}
	}
	return &res, err
}

// recordHook keeps the entries under /usr/bin and records what Squash
// received.
type recordHook struct {
	version int
	seen    atomic.Int64
	mu      sync.Mutex
	got     []catalog.LayerEntries
}

func (*recordHook) Name() string   { return "record" }
func (h *recordHook) Version() int { return h.version }
func (h *recordHook) Keep(e *catalog.Entry) bool {
	h.seen.Add(1)
	return strings.HasPrefix(e.Path, "/usr/bin")
}

func (h *recordHook) Squash(layers []catalog.LayerEntries, inv *catalog.Inventory) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = layers
	inv.Findings = append(inv.Findings, catalog.Finding{Kind: "misconfiguration", RuleID: "hook", Path: "/usr/bin"})
}

func findingKeys(inv *catalog.Inventory) []string {
	var out []string
	for _, f := range inv.Findings {
		b, _ := json.Marshal(f)
		out = append(out, string(b))
	}
	return out
}

// TestFindingsSquash: findings of a file replaced or deleted in a later
// layer disappear; the others carry the layer holding the file.
func TestFindingsSquash(t *testing.T) {
	base := layer(ct.File("etc/a", "KEY"), ct.File("etc/b", "x\nKEY\n"), ct.File("etc/c", "one\ntwo\nKEY=1"), ct.File("etc/d", "KEY"))
	img := ct.NewImage(base, layer(ct.File("etc/a", "clean"), ct.File("etc/.wh.b", "")), layer(ct.File("etc/d", "new\nKEY")))
	c, err := catalog.New([]catalog.Analyzer{&keyAnalyzer{}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range inv.Findings {
		got = append(got, f.Path+":"+string(rune('0'+f.Line))+"@"+f.Layer)
	}
	want := []string{"/etc/c:3@" + inv.Layers[0], "/etc/d:2@" + inv.Layers[2]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings\ngot  %v\nwant %v", got, want)
	}
}

// TestEntryHook: the hook sees every header (directories, links,
// whiteouts), its kept entries are cached with the layer, and a warm run
// hands Squash the same entries without reading the layers.
func TestEntryHook(t *testing.T) {
	img := ct.NewImage(
		layer(ct.Entry{Name: "usr/bin", Type: tar.TypeDir}, ct.Entry{Name: "usr/bin/su", Body: []byte("x"), Mode: 0o4755},
			ct.Entry{Name: "usr/bin/sh", Type: tar.TypeSymlink, Linkname: "dash"}, ct.File("etc/x", "KEY")),
		layer(ct.File("usr/bin/.wh.su", "")),
	)
	cache, err := diskcache.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &recordHook{version: 1}
	a := &keyAnalyzer{}
	c, err := catalog.New([]catalog.Analyzer{a}, catalog.WithCache(cache), catalog.WithEntryHook(h))
	if err != nil {
		t.Fatal(err)
	}
	cold, err := c.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if h.seen.Load() != 5 {
		t.Errorf("hook saw %d headers, want 5", h.seen.Load())
	}
	want := []catalog.LayerEntries{
		{Digest: img.Ls[0].Digest(), Entries: []catalog.Entry{
			{Path: "/usr/bin", Mode: 0o755, Typeflag: tar.TypeDir},
			{Path: "/usr/bin/su", Mode: 0o4755, Typeflag: tar.TypeReg},
			{Path: "/usr/bin/sh", Mode: 0o644, Typeflag: tar.TypeSymlink, Linkname: "dash"},
		}},
		{Digest: img.Ls[1].Digest(), Entries: []catalog.Entry{{Path: "/usr/bin/.wh.su", Mode: 0o644, Typeflag: tar.TypeReg}}},
	}
	if !reflect.DeepEqual(h.got, want) {
		t.Errorf("squash got %+v\nwant %+v", h.got, want)
	}
	h.got = nil
	warm, err := c.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if h.seen.Load() != 5 || a.calls.Load() != 1 {
		t.Errorf("warm run read layers again: %d headers, %d analyses", h.seen.Load(), a.calls.Load())
	}
	if !reflect.DeepEqual(h.got, want) {
		t.Errorf("warm squash got %+v\nwant %+v", h.got, want)
	}
	if !reflect.DeepEqual(findingKeys(cold), findingKeys(warm)) || len(cold.Findings) != 2 {
		t.Errorf("warm findings %v, cold %v", findingKeys(warm), findingKeys(cold))
	}
	// Another hook version, or none, is another cache key.
	h2 := &recordHook{version: 2}
	c2, err := catalog.New([]catalog.Analyzer{a}, catalog.WithCache(cache), catalog.WithEntryHook(h2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Catalog(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	if h2.seen.Load() != 5 {
		t.Errorf("new hook version reused cached entries: saw %d", h2.seen.Load())
	}
	c3, err := catalog.New([]catalog.Analyzer{a}, catalog.WithCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	before := a.calls.Load()
	if _, err := c3.Catalog(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	if a.calls.Load() == before {
		t.Error("catalog without the hook reused the hook's cached results")
	}
	// A hook alone is enough.
	h4 := &recordHook{version: 1}
	c4, err := catalog.New(nil, catalog.WithEntryHook(h4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c4.Catalog(context.Background(), img); err != nil || !reflect.DeepEqual(h4.got, want) {
		t.Errorf("hook-only catalog: %v, entries %+v", err, h4.got)
	}
	if _, err := catalog.New([]catalog.Analyzer{a}, catalog.WithEntryHook(h), catalog.WithEntryHook(h)); err == nil {
		t.Error("the same hook twice accepted")
	}
}

// TestSharedReadOnce: a file two analyzers want is read from the layer
// once and both see the whole content.
func TestSharedReadOnce(t *testing.T) {
	k := &keyAnalyzer{}
	l := &listAnalyzer{}
	img := ct.NewImage(layer(ct.File("etc/pkgs", "KEY 1\nb 2")))
	c, err := catalog.New([]catalog.Analyzer{k}, catalog.WithAnalyzer(&wrapWants{l, "/etc/pkgs"}))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 2 || len(inv.Findings) != 1 || k.calls.Load() != 1 || l.calls.Load() != 1 {
		t.Errorf("packages %d, findings %d, calls %d/%d", len(inv.Packages), len(inv.Findings), k.calls.Load(), l.calls.Load())
	}
}

// wrapWants makes an analyzer want one more path.
type wrapWants struct {
	*listAnalyzer
	path string
}

func (w *wrapWants) Wants(p string, m fs.FileMode, n int64) bool {
	return p == w.path || w.listAnalyzer.Wants(p, m, n)
}

// dirImage is a root filesystem directory read as one layer.
type dirImage struct{ fsys fs.FS }

func (d dirImage) Digest() string          { return "" }
func (d dirImage) Layers() []catalog.Layer { return []catalog.Layer{d} }
func (d dirImage) Open(context.Context) (io.ReadCloser, error) {
	return nil, errors.New("a directory has no blob")
}
func (d dirImage) FS() fs.FS { return d.fsys }

// TestEntryHookDir: entries of a directory tree reach the hook with their
// setuid bit and type, as a tar header would carry them.
func TestEntryHookDir(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	su := filepath.Join(root, "usr", "bin", "su")
	if err := os.WriteFile(su, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(su, 0o4755|fs.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("dash", filepath.Join(root, "usr", "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	h := &recordHook{version: 1}
	c, err := catalog.New(nil, catalog.WithEntryHook(h))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Catalog(context.Background(), dirImage{os.DirFS(root)}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h.got[0].Entries {
		got = append(got, fmt.Sprintf("%s %o %c", e.Path, e.Mode, e.Typeflag))
	}
	want := []string{"/usr/bin 755 5", "/usr/bin/sh 777 2", "/usr/bin/su 4755 0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
}
