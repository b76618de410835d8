package signing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Status is an image's managed signing in one repository.
type Status struct {
	Status   string
	Reason   string
	KeyID    string
	SignedAt time.Time
}

// setStatusTx records status for repo@digest; keepComplete leaves a
// completed signing alone (a push of an image signed already).
func (s *Service) setStatusTx(ctx context.Context, tx *sql.Tx, repo, digest, status, reason string, keepComplete bool) error {
	guard := ""
	if keepComplete {
		guard = ` WHERE image_signing_state.status <> '` + Complete + `'`
	}
	_, err := tx.ExecContext(ctx, s.DB.Q(`
		INSERT INTO image_signing_state (repository, digest, status, reason, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (repository, digest) DO UPDATE SET status = excluded.status, reason = excluded.reason,
			updated_at = excluded.updated_at`+guard), repo, digest, status, truncate(reason, 2000), s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("signing: record status: %w", err)
	}
	return nil
}

func (s *Service) setSignedTx(ctx context.Context, tx *sql.Tx, repo, digest, keyID string) error {
	now := s.now().UnixNano()
	_, err := tx.ExecContext(ctx, s.DB.Q(`
		INSERT INTO image_signing_state (repository, digest, status, reason, key_id, signed_at, updated_at) VALUES (?, ?, ?, '', ?, ?, ?)
		ON CONFLICT (repository, digest) DO UPDATE SET status = excluded.status, reason = '', key_id = excluded.key_id,
			signed_at = excluded.signed_at, updated_at = excluded.updated_at`), repo, digest, Complete, keyID, now, now)
	if err != nil {
		return fmt.Errorf("signing: record status: %w", err)
	}
	return nil
}

// ErrNoStatus: the image was never under a signing rule.
var ErrNoStatus = errors.New("not signed by the registry")

// StatusOf returns the managed signing status of repo@digest.
func (s *Service) StatusOf(ctx context.Context, repo, digest string) (Status, error) {
	var (
		st     Status
		signed sql.NullInt64
	)
	err := s.DB.R.QueryRowContext(ctx, s.DB.Q(`SELECT status, reason, key_id, signed_at FROM image_signing_state WHERE repository = ? AND digest = ?`),
		repo, digest).Scan(&st.Status, &st.Reason, &st.KeyID, &signed)
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrNoStatus
	}
	if err != nil {
		return st, fmt.Errorf("signing: status: %w", err)
	}
	if signed.Valid {
		st.SignedAt = time.Unix(0, signed.Int64).UTC()
	}
	return st, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
