package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/meta"
)

// mutabilityTx reads the tag mutability in force for a repository: its
// own, else the store's default.
func (s *Store) mutabilityTx(ctx context.Context, tx *sql.Tx, repoID int64) (meta.TagMutability, error) {
	var (
		t    meta.TagMutability
		excl string
	)
	err := tx.QueryRowContext(ctx, s.db.Q(`SELECT tag_mutability, tag_mutability_exclusions FROM repositories WHERE id = ?`), repoID).
		Scan(&t.Mode, &excl)
	if err != nil {
		return t, fmt.Errorf("tag mutability: %w", err)
	}
	if err := json.Unmarshal([]byte(excl), &t.Exclusions); err != nil {
		return t, fmt.Errorf("tag mutability exclusions: %w", err)
	}
	return t.Or(s.mutability), nil
}

// TagMutability returns repo's own setting (Mode "" when it follows the
// default) and the one in force.
func (s *Store) TagMutability(ctx context.Context, repo string) (own, effective meta.TagMutability, err error) {
	err = s.db.Read(ctx, func(tx *sql.Tx) error {
		id, err := s.repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		var excl string
		if err := tx.QueryRowContext(ctx, s.db.Q(`SELECT tag_mutability, tag_mutability_exclusions FROM repositories WHERE id = ?`), id).
			Scan(&own.Mode, &excl); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(excl), &own.Exclusions); err != nil {
			return err
		}
		effective = own.Or(s.mutability)
		return nil
	})
	return own, effective, err
}

// SetTagMutability sets repo's tag mutability (Mode "" to follow the
// default), creating the repository when it does not exist yet.
func (s *Store) SetTagMutability(ctx context.Context, repo string, t meta.TagMutability) error {
	if err := checkName("repository", repo); err != nil {
		return err
	}
	if err := t.Validate(); err != nil {
		return err
	}
	excl, err := json.Marshal(t.Exclusions)
	if err != nil {
		return err
	}
	if t.Exclusions == nil {
		excl = []byte("[]")
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		id, err := s.ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.db.Q(`UPDATE repositories SET tag_mutability = ?, tag_mutability_exclusions = ? WHERE id = ?`),
			t.Mode, string(excl), id)
		return err
	})
}

// FixedTags lists the immutable tags that deleting ref (a tag, or a
// digest with every tag pointing at it) would remove from repo.
func (s *Store) FixedTags(ctx context.Context, repo, tag string, d digest.Digest) ([]string, error) {
	var out []string
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		out = nil
		id, err := s.repoID(ctx, tx, repo)
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		mut, err := s.mutabilityTx(ctx, tx, id)
		if err != nil || mut.Mode == "" || mut.Mode == meta.Mutable {
			return err
		}
		var rows *sql.Rows
		if tag != "" {
			rows, err = tx.QueryContext(ctx, s.db.Q(`SELECT name FROM tags WHERE repository_id = ? AND name = ?`), id, tag)
		} else {
			rows, err = tx.QueryContext(ctx, s.db.Q(`SELECT t.name FROM tags t JOIN manifests m ON m.id = t.manifest_id
				WHERE t.repository_id = ? AND m.digest = ? ORDER BY t.name`), id, string(d))
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			if mut.Fixed(name) {
				out = append(out, name)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("immutable tags of %s: %w", repo, err)
	}
	return out, nil
}
