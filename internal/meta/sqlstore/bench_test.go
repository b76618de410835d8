package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/sqldb"
)

// BenchmarkOpen measures sqldb.Open and New on a database holding 100k manifests (with
// their blobs, references and tags): start-up must not scan data.
func BenchmarkOpen(b *testing.B) {
	const manifests = 100_000
	for _, e := range engines {
		b.Run(fmt.Sprintf("%s/%dk-manifests", e.name, manifests/1000), func(b *testing.B) {
			dsn := e.dsn(b)
			s := open(b, dsn)
			start := time.Now()
			if err := seed(b.Context(), s, manifests); err != nil {
				b.Fatal(err)
			}
			b.Logf("seeded %d manifests in %v", manifests, time.Since(start))
			s.db.Close()
			b.ResetTimer()
			for b.Loop() {
				db, err := sqldb.Open(b.Context(), dsn)
				if err != nil {
					b.Fatal(err)
				}
				s, err := New(b.Context(), db)
				if err != nil {
					b.Fatal(err)
				}
				// One real query, so a lazily failing open cannot look fast.
				if _, err := s.ResolveTag(b.Context(), "bench", "t000042"); err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
		})
	}
}

// seed bulk-inserts n manifests, each tagged and referencing one own blob
// and one shared blob, in multi-row statements.
func seed(ctx context.Context, s *Store, n int) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		repoID, err := s.ensureRepo(ctx, tx, "bench")
		if err != nil {
			return err
		}
		shared := digest.FromString("shared").String()
		if _, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO blobs (digest, size, created_at, touched_at) VALUES (?, 1, 0, 0)`), shared); err != nil {
			return err
		}
		const batch = 200
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			var blobs, manifests []any
			for i := lo; i < hi; i++ {
				content := fmt.Sprintf(`{"n":%d}`, i)
				blobs = append(blobs, digest.FromString(fmt.Sprint("layer", i)).String())
				manifests = append(manifests, int64(i+1), repoID, digest.FromString(content).String(), "application/vnd.oci.image.manifest.v1+json", len(content), []byte(content))
			}
			rows := hi - lo
			if _, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO blobs (digest, size, created_at, touched_at) VALUES `+
				strings.Repeat("(?, 1, 0, 0), ", rows-1)+"(?, 1, 0, 0)"), blobs...); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO manifests (id, repository_id, digest, media_type, size, content, pushed_at) VALUES `+
				strings.Repeat("(?, ?, ?, ?, ?, ?, 0), ", rows-1)+"(?, ?, ?, ?, ?, ?, 0)"), manifests...); err != nil {
				return err
			}
			var refs, tags []any
			for i := lo; i < hi; i++ {
				refs = append(refs, int64(i+1), blobs[i-lo], 0, int64(i+1), shared, 1)
				tags = append(tags, repoID, fmt.Sprintf("t%06d", i), int64(i+1))
			}
			if _, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO manifest_blobs (manifest_id, digest, ordinal) VALUES `+
				strings.Repeat("(?, ?, ?), ", 2*rows-1)+"(?, ?, ?)"), refs...); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO tags (repository_id, name, manifest_id, updated_at) VALUES `+
				strings.Repeat("(?, ?, ?, 0), ", rows-1)+"(?, ?, ?, 0)"), tags...); err != nil {
				return err
			}
		}
		return nil
	})
}
