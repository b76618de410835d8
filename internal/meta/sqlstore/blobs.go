package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/meta"
)

// PutBlob records a blob, links it to repo and refreshes its touch time.
func (s *Store) PutBlob(ctx context.Context, repo string, d digest.Digest, size int64) error {
	if err := checkName("repository", repo); err != nil {
		return err
	}
	if err := checkDigest(d); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("blob %s: negative size %d: %w", d, size, meta.ErrInvalid)
	}
	now := s.nowNS()
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		repoID, err := s.ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		var stored int64
		err = tx.QueryRowContext(ctx, s.db.Q(`
			INSERT INTO blobs (digest, size, created_at, touched_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET touched_at = CASE
				WHEN blobs.touched_at > excluded.touched_at THEN blobs.touched_at
				ELSE excluded.touched_at END
			RETURNING size`), string(d), size, now, now).Scan(&stored)
		if err != nil {
			return fmt.Errorf("record blob: %w", err)
		}
		if stored != size {
			return fmt.Errorf("blob %s recorded with size %d, put with %d: %w", d, stored, size, meta.ErrInvalid)
		}
		return s.link(ctx, tx, repoID, d, now)
	})
	if err != nil {
		return fmt.Errorf("put blob %s in %s: %w", d, repo, err)
	}
	return nil
}

func (s *Store) link(ctx context.Context, tx *sql.Tx, repoID int64, d digest.Digest, now int64) error {
	_, err := tx.ExecContext(ctx, s.db.Q(`
		INSERT INTO repository_blobs (repository_id, digest, linked_at) VALUES (?, ?, ?)
		ON CONFLICT (repository_id, digest) DO NOTHING`), repoID, string(d), now)
	if err != nil {
		return fmt.Errorf("link blob: %w", err)
	}
	return nil
}

// LinkBlob links a recorded blob to repo and refreshes its touch time.
func (s *Store) LinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	if err := checkName("repository", repo); err != nil {
		return err
	}
	if err := checkDigest(d); err != nil {
		return err
	}
	now := s.nowNS()
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		repoID, err := s.ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		// Touching locks the row, so a concurrent garbage collection either
		// deleted it already (not found here) or waits and sees the touch.
		res, err := tx.ExecContext(ctx, s.db.Q(`
			UPDATE blobs SET touched_at = CASE WHEN touched_at > ? THEN touched_at ELSE ? END
			WHERE digest = ?`), now, now, string(d))
		if err != nil {
			return fmt.Errorf("touch blob: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("blob not recorded: %w", meta.ErrNotFound)
		}
		return s.link(ctx, tx, repoID, d, now)
	})
	if err != nil {
		return fmt.Errorf("link blob %s to %s: %w", d, repo, err)
	}
	return nil
}

// StatBlob returns the size of a blob linked to repo.
func (s *Store) StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	var size int64
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`
		SELECT b.size FROM repository_blobs rb
		JOIN repositories r ON r.id = rb.repository_id
		JOIN blobs b ON b.digest = rb.digest
		WHERE r.name = ? AND rb.digest = ?`), repo, string(d)).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("blob %s in %s: %w", d, repo, meta.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("stat blob %s in %s: %w", d, repo, err)
	}
	return size, nil
}

// UnlinkBlob removes the blob's link to repo; ErrNotFound if not linked.
func (s *Store) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	err := s.execOne(ctx, `
		DELETE FROM repository_blobs
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`,
		repo, string(d))
	if err != nil {
		return fmt.Errorf("unlink blob %s from %s: %w", d, repo, err)
	}
	return nil
}

// HasBlob reports whether the blob is recorded in any repository.
func (s *Store) HasBlob(ctx context.Context, d digest.Digest) (bool, error) {
	var n int
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`SELECT COUNT(*) FROM blobs WHERE digest = ?`), string(d)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("has blob %s: %w", d, err)
	}
	return n > 0, nil
}

// execOne runs one statement in a write transaction; meta.ErrNotFound
// when it changes no row.
func (s *Store) execOne(ctx context.Context, query string, args ...any) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Q(query), args...)
		if err != nil {
			return err
		}
		return requireRow(res)
	})
}

// requireRow turns "no row changed" into meta.ErrNotFound.
func requireRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return meta.ErrNotFound
	}
	return nil
}
