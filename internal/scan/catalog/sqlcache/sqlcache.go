// Package sqlcache keeps catalog layer results in the metadata database,
// so that every image sharing a layer, and every replica, reads the layer
// once. Results are gob-encoded (as the CLI's diskcache, for decoding
// speed) and gzip-compressed. A read refreshes the entry's use time at
// most once an hour; Evict drops entries unused since a cut-off.
package sqlcache

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"embed"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moatlayr").
const migrationLockKey int64 = 0x6d6f61746c617972

// maxResult bounds a decoded result, against a corrupt row.
const maxResult = 256 << 20

// touchEvery is how stale an entry's use time may get before a read
// rewrites it: eviction works in days, a write per read would not pay.
const touchEvery = time.Hour

// Cache is a catalog.Cache in a SQL database.
type Cache struct {
	db  *sqldb.DB
	now func() time.Time
}

var _ catalog.Cache = (*Cache)(nil)

// New brings the cache table in db up to date. now is the clock (nil:
// time.Now).
func New(ctx context.Context, db *sqldb.DB, now func() time.Time) (*Cache, error) {
	if err := db.Migrate(ctx, migrations, "migrations", "layer_cache_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("sqlcache: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{db: db, now: now}, nil
}

// Get implements catalog.Cache. A corrupt entry is a miss (and is
// overwritten by the next Put).
func (c *Cache) Get(ctx context.Context, k catalog.CacheKey) (*catalog.LayerResult, error) {
	var (
		b    []byte
		used int64
	)
	err := c.db.R.QueryRowContext(ctx, c.db.Q(`SELECT result, used_at FROM layer_results WHERE layer = ? AND analyzers = ?`),
		k.Layer, k.Analyzers).Scan(&b, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, catalog.ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("sqlcache: get %s: %w", k.Layer, err)
	}
	r, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: corrupt entry for %s: %v", catalog.ErrCacheMiss, k.Layer, err)
	}
	if now := c.now().UTC(); now.Sub(time.Unix(0, used)) > touchEvery {
		_ = c.db.Write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, c.db.Q(`UPDATE layer_results SET used_at = ? WHERE layer = ? AND analyzers = ?`),
				now.UnixNano(), k.Layer, k.Analyzers)
			return err
		}) // best effort: a missed touch only ages the entry
	}
	return r, nil
}

// Put implements catalog.Cache.
func (c *Cache) Put(ctx context.Context, k catalog.CacheKey, r *catalog.LayerResult) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := gob.NewEncoder(zw).Encode(r); err != nil {
		return fmt.Errorf("sqlcache: encode %s: %w", k.Layer, err)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	now := c.now().UTC().UnixNano()
	err := c.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, c.db.Q(`
			INSERT INTO layer_results (layer, analyzers, result, created_at, used_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (layer, analyzers) DO UPDATE SET result = excluded.result, used_at = excluded.used_at`),
			k.Layer, k.Analyzers, buf.Bytes(), now, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlcache: put %s: %w", k.Layer, err)
	}
	return nil
}

// Evict deletes results not used since before and reports how many.
func (c *Cache) Evict(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := c.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, c.db.Q(`DELETE FROM layer_results WHERE used_at < ?`), before.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlcache: evict: %w", err)
	}
	return n, nil
}

func decode(b []byte) (*catalog.LayerResult, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var r catalog.LayerResult
	if err := gob.NewDecoder(io.LimitReader(zr, maxResult)).Decode(&r); err != nil {
		return nil, err
	}
	return &r, nil
}
