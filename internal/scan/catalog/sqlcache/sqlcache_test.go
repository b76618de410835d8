package sqlcache_test

import (
	"errors"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/sqlcache"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
)

func TestCache(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c, err := sqlcache.New(ctx, db, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		k := catalog.CacheKey{Layer: "sha256:aaaa", Analyzers: "set1"}
		if _, err := c.Get(ctx, k); !errors.Is(err, catalog.ErrCacheMiss) {
			t.Fatalf("Get before Put = %v", err)
		}
		r := &catalog.LayerResult{Digest: k.Layer, Whiteouts: []string{"/etc/x"}, Files: []catalog.FileResult{
			{Path: "/var/lib/dpkg/status", Analyzer: "dpkg", Packages: []catalog.Package{{Ecosystem: "Debian", Name: "libc6", Version: "2.36"}}}}}
		if err := c.Put(ctx, k, r); err != nil {
			t.Fatal(err)
		}
		if err := c.Put(ctx, k, r); err != nil { // a second writer of the same layer
			t.Fatal(err)
		}
		got, err := c.Get(ctx, k)
		if err != nil || got.Files[0].Packages[0].Name != "libc6" || got.Whiteouts[0] != "/etc/x" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if _, err := c.Get(ctx, catalog.CacheKey{Layer: k.Layer, Analyzers: "set2"}); !errors.Is(err, catalog.ErrCacheMiss) {
			t.Fatalf("another analyzer set = %v", err)
		}
		// A read a day later keeps the entry from eviction.
		now = now.Add(24 * time.Hour)
		if _, err := c.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Evict(ctx, now.Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("Evict of a recently used entry = %d, %v", n, err)
		}
		if n, err := c.Evict(ctx, now.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("Evict = %d, %v", n, err)
		}
		// A corrupt entry is a miss.
		if _, err := db.W.ExecContext(ctx, db.Q(`INSERT INTO layer_results (layer, analyzers, result, created_at, used_at) VALUES (?, ?, ?, 0, 0)`),
			"sha256:bad", "set1", []byte("not gzip")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, catalog.CacheKey{Layer: "sha256:bad", Analyzers: "set1"}); !errors.Is(err, catalog.ErrCacheMiss) {
			t.Fatalf("corrupt entry = %v", err)
		}
	})
}
