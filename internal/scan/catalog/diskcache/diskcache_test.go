package diskcache_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/diskcache"
)

func TestRoundTripAndCorruption(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := diskcache.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := catalog.CacheKey{Layer: "sha256:abc", Analyzers: "set1"}
	if _, err := c.Get(ctx, k); !errors.Is(err, catalog.ErrCacheMiss) {
		t.Fatalf("empty cache: err = %v", err)
	}
	in := &catalog.LayerResult{Digest: k.Layer, Whiteouts: []string{"/x"}, Files: []catalog.FileResult{{Path: "/p", Analyzer: "a",
		Packages: []catalog.Package{{Name: "n", Version: "1"}}}}}
	if err := c.Put(ctx, k, in); err != nil {
		t.Fatal(err)
	}
	out, err := c.Get(ctx, k)
	if err != nil || out.Files[0].Packages[0].Name != "n" || out.Whiteouts[0] != "/x" {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	if _, err := c.Get(ctx, catalog.CacheKey{Layer: k.Layer, Analyzers: "set2"}); !errors.Is(err, catalog.ErrCacheMiss) {
		t.Errorf("other analyzer set hit: %v", err)
	}
	// Corrupt every entry: reads become misses, not failures.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			os.WriteFile(p, []byte("{not json"), 0o600)
		}
		return nil
	})
	if _, err := c.Get(ctx, k); !errors.Is(err, catalog.ErrCacheMiss) {
		t.Errorf("corrupt entry: err = %v", err)
	}
	if _, err := diskcache.New(""); err == nil {
		t.Error("empty dir accepted")
	}
}
