package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/sqldb"
)

// CreateUpload starts a session. Zero StartedAt/UpdatedAt become now (and
// are set on u); an ID already in use is meta.ErrConflict. With maxOpen > 0
// an owner holding maxOpen sessions gets meta.ErrLimit; on PostgreSQL the
// count and the insert run under a per-owner advisory lock, so concurrent
// starts of one owner cannot overshoot.
func (s *Store) CreateUpload(ctx context.Context, u *meta.Upload, maxOpen int) error {
	if err := checkName("upload id", u.ID); err != nil {
		return err
	}
	if err := checkName("repository", u.Repository); err != nil {
		return err
	}
	if u.Offset < 0 {
		return fmt.Errorf("upload %s: negative offset: %w", u.ID, meta.ErrInvalid)
	}
	now := s.now().UTC()
	if u.StartedAt.IsZero() {
		u.StartedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.StartedAt
	}
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if maxOpen > 0 && u.Owner != "" {
			if s.db.Engine() == sqldb.Postgres {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "moat-uploads:"+u.Owner); err != nil {
					return fmt.Errorf("lock owner's uploads: %w", err)
				}
			}
			var open int
			if err := tx.QueryRowContext(ctx, s.db.Q(`SELECT COUNT(*) FROM uploads WHERE owner = ?`), u.Owner).Scan(&open); err != nil {
				return fmt.Errorf("count owner's uploads: %w", err)
			}
			if open >= maxOpen {
				return fmt.Errorf("%s has %d upload sessions open, the limit is %d: %w", u.Owner, open, maxOpen, meta.ErrLimit)
			}
		}
		_, err := tx.ExecContext(ctx, s.db.Q(`
			INSERT INTO uploads (id, repository, owner, byte_offset, hash_state, started_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`),
			u.ID, u.Repository, u.Owner, u.Offset, u.HashState, u.StartedAt.UnixNano(), u.UpdatedAt.UnixNano())
		if sqldb.IsUniqueViolation(err) {
			return fmt.Errorf("id in use: %w", meta.ErrConflict)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return nil
}

// GetUpload returns a session; meta.ErrNotFound if absent.
func (s *Store) GetUpload(ctx context.Context, id string) (*meta.Upload, error) {
	u := meta.Upload{ID: id}
	var started, updated int64
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`
		SELECT repository, owner, byte_offset, hash_state, started_at, updated_at FROM uploads WHERE id = ?`), id).
		Scan(&u.Repository, &u.Owner, &u.Offset, &u.HashState, &started, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("upload %s: %w", id, meta.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get upload %s: %w", id, err)
	}
	u.StartedAt, u.UpdatedAt = fromNS(started), fromNS(updated)
	return &u, nil
}

// AdvanceUpload moves the session's offset from from to u.Offset and stores
// u.HashState, as one compare-and-swap: meta.ErrConflict if the stored
// offset is not from, meta.ErrNotFound if the session is gone. It sets
// u.UpdatedAt to now.
func (s *Store) AdvanceUpload(ctx context.Context, u *meta.Upload, from int64) error {
	if from < 0 || u.Offset < from {
		return fmt.Errorf("advance upload %s from %d to %d: %w", u.ID, from, u.Offset, meta.ErrInvalid)
	}
	now := s.now().UTC()
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Q(`
			UPDATE uploads SET byte_offset = ?, hash_state = ?, updated_at = ?
			WHERE id = ? AND byte_offset = ?`),
			u.Offset, u.HashState, now.UnixNano(), u.ID, from)
		if err != nil {
			return err
		}
		if requireRow(res) == nil {
			return nil
		}
		var offset int64
		err = tx.QueryRowContext(ctx, s.db.Q(`SELECT byte_offset FROM uploads WHERE id = ?`), u.ID).Scan(&offset)
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrNotFound
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("stored offset is %d: %w", offset, meta.ErrConflict)
	})
	if err != nil {
		return fmt.Errorf("advance upload %s from %d: %w", u.ID, from, err)
	}
	u.UpdatedAt = now
	return nil
}

// DeleteUpload ends a session; meta.ErrNotFound if absent.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	err := s.execOne(ctx, `DELETE FROM uploads WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	return nil
}

// StaleUploads lists sessions not updated since before, least recently
// updated first; limit <= 0 means no limit.
func (s *Store) StaleUploads(ctx context.Context, before time.Time, limit int) ([]meta.Upload, error) {
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`
		SELECT id, repository, owner, byte_offset, hash_state, started_at, updated_at FROM uploads
		WHERE updated_at < ? ORDER BY updated_at, id`+limitClause(limit)), before.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("stale uploads: %w", err)
	}
	defer rows.Close()
	var out []meta.Upload
	for rows.Next() {
		var u meta.Upload
		var started, updated int64
		if err := rows.Scan(&u.ID, &u.Repository, &u.Owner, &u.Offset, &u.HashState, &started, &updated); err != nil {
			return nil, fmt.Errorf("stale uploads: %w", err)
		}
		u.StartedAt, u.UpdatedAt = fromNS(started), fromNS(updated)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stale uploads: %w", err)
	}
	return out, nil
}
