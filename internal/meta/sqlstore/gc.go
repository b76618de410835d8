package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/sqldb"
)

// GCCandidates lists blobs that no manifest references and that were last
// touched before before, least recently touched first; limit <= 0 means no
// limit. The list is a hint: DeleteBlobIfUnreferenced decides.
func (s *Store) GCCandidates(ctx context.Context, before time.Time, limit int) ([]digest.Digest, error) {
	names, err := queryStrings(ctx, s.db.R, s.db.Q(`
		SELECT b.digest FROM blobs b
		WHERE b.touched_at < ?
		AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = b.digest)
		AND NOT EXISTS (SELECT 1 FROM manifest_external_blobs me WHERE me.digest = b.digest)
		ORDER BY b.touched_at, b.digest`+limitClause(limit)), before.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("gc candidates: %w", err)
	}
	out := make([]digest.Digest, len(names))
	for i, n := range names {
		out[i] = digest.Digest(n)
	}
	return out, nil
}

// DeleteBlobIfUnreferenced deletes the blob record, and with it every
// repository link, if it is still unreferenced and untouched since before.
//
// The blob row is locked first (FOR UPDATE on PostgreSQL; SQLite's write
// transaction excludes all other writers). A PutManifest holding the lock
// makes this wait until it commits; in READ COMMITTED each later statement
// then sees its touch and its reference, so the blob is kept. A PutManifest
// arriving after the lock waits, then finds the blob gone and fails with a
// *meta.MissingError. The manifest_blobs foreign key backs this up: should
// a reference slip through, the delete fails and is reported as kept.
func (s *Store) DeleteBlobIfUnreferenced(ctx context.Context, d digest.Digest, before time.Time) (bool, error) {
	var deleted bool
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		deleted = false
		var touched int64
		err := tx.QueryRowContext(ctx, s.db.Q(`SELECT touched_at FROM blobs WHERE digest = ?`+s.db.ForUpdate()),
			string(d)).Scan(&touched)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock blob: %w", err)
		}
		if touched >= before.UnixNano() {
			return nil
		}
		var referenced int
		if err := tx.QueryRowContext(ctx, s.db.Q(`
			SELECT COUNT(*) FROM (
				SELECT 1 FROM manifest_blobs WHERE digest = ?
				UNION ALL
				SELECT 1 FROM manifest_external_blobs WHERE digest = ?
				LIMIT 1) r`),
			string(d), string(d)).Scan(&referenced); err != nil {
			return fmt.Errorf("find references: %w", err)
		}
		if referenced > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM blobs WHERE digest = ?`), string(d)); err != nil {
			return fmt.Errorf("delete blob: %w", err)
		}
		deleted = true
		return nil
	})
	if sqldb.IsForeignKeyViolation(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("gc blob %s: %w", d, err)
	}
	return deleted, nil
}
