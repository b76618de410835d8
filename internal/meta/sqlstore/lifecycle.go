package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/meta"
)

// LifecyclePolicy returns repo's lifecycle policy document, nil without
// one; meta.ErrNotFound for an unknown repository.
func (s *Store) LifecyclePolicy(ctx context.Context, repo string) ([]byte, error) {
	var doc sql.NullString
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`SELECT lifecycle_policy FROM repositories WHERE name = ?`), repo).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("repository %q: %w", repo, meta.ErrNotFound)
	}
	if err != nil || !doc.Valid {
		return nil, err
	}
	return []byte(doc.String), nil
}

// SetLifecyclePolicy stores repo's lifecycle policy (nil removes it),
// creating the repository when it does not exist yet. The caller has
// validated the document.
func (s *Store) SetLifecyclePolicy(ctx context.Context, repo string, doc []byte) error {
	if err := checkName("repository", repo); err != nil {
		return err
	}
	var v any
	if doc != nil {
		v = string(doc)
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		id, err := s.ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.db.Q(`UPDATE repositories SET lifecycle_policy = ? WHERE id = ?`), v, id)
		return err
	})
}

// LifecycleRepositories lists the repositories with a lifecycle policy.
func (s *Store) LifecycleRepositories(ctx context.Context) ([]string, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT name FROM repositories WHERE lifecycle_policy IS NOT NULL ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// LifecycleImage is an image a lifecycle policy judges.
type LifecycleImage struct {
	Digest             digest.Digest
	Tags               []string
	PushedAt, PulledAt time.Time // PulledAt zero: never pulled
}

// LifecycleImages lists the images of repo a lifecycle policy judges:
// every manifest but referrers (signatures, SBOMs: they go with their
// subject) and the manifests an index of the repository holds (they go
// with the index), with their tags.
func (s *Store) LifecycleImages(ctx context.Context, repo string) ([]LifecycleImage, error) {
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`
		SELECT m.digest, m.pushed_at, m.pulled_at, t.name
		FROM manifests m
		JOIN repositories r ON r.id = m.repository_id
		LEFT JOIN tags t ON t.manifest_id = m.id
		WHERE r.name = ? AND m.subject IS NULL
		  AND NOT EXISTS (SELECT 1 FROM manifest_children c JOIN manifests p ON p.id = c.manifest_id
		                  WHERE c.child_digest = m.digest AND p.repository_id = m.repository_id)
		ORDER BY m.id, t.name`), repo)
	if err != nil {
		return nil, fmt.Errorf("lifecycle images of %s: %w", repo, err)
	}
	defer rows.Close()
	var out []LifecycleImage
	for rows.Next() {
		var (
			dg     string
			pushed int64
			pulled sql.NullInt64
			tag    sql.NullString
		)
		if err := rows.Scan(&dg, &pushed, &pulled, &tag); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Digest != digest.Digest(dg) {
			img := LifecycleImage{Digest: digest.Digest(dg), PushedAt: fromNS(pushed)}
			if pulled.Valid {
				img.PulledAt = fromNS(pulled.Int64)
			}
			out = append(out, img)
		}
		if tag.Valid {
			out[len(out)-1].Tags = append(out[len(out)-1].Tags, tag.String)
		}
	}
	return out, rows.Err()
}

// RepositoryInfo is a repository as the repositories listing shows it.
type RepositoryInfo struct {
	Name       string
	CreatedAt  time.Time
	Images     int   // manifests but referrers
	Size       int64 // bytes of the blobs linked to it, each once
	LastPushed time.Time
	LastPulled time.Time // zero: never pulled
	Mutability string    // own tag mutability, "" for the default
	Lifecycle  bool      // has a lifecycle policy
}

// RepositoryInfos lists repositories after name after, at most n, by name.
func (s *Store) RepositoryInfos(ctx context.Context, after string, n int) ([]RepositoryInfo, error) {
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`
		SELECT r.name, r.created_at, r.tag_mutability, r.lifecycle_policy IS NOT NULL,
			(SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id AND m.subject IS NULL),
			(SELECT COALESCE(SUM(b.size), 0) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = r.id),
			(SELECT MAX(m.pushed_at) FROM manifests m WHERE m.repository_id = r.id),
			(SELECT MAX(m.pulled_at) FROM manifests m WHERE m.repository_id = r.id)
		FROM repositories r WHERE r.name > ? ORDER BY r.name LIMIT ?`), after, n)
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	defer rows.Close()
	var out []RepositoryInfo
	for rows.Next() {
		var (
			ri             RepositoryInfo
			created        int64
			pushed, pulled sql.NullInt64
		)
		if err := rows.Scan(&ri.Name, &created, &ri.Mutability, &ri.Lifecycle, &ri.Images, &ri.Size, &pushed, &pulled); err != nil {
			return nil, fmt.Errorf("list repositories: %w", err)
		}
		ri.CreatedAt = fromNS(created)
		if pushed.Valid {
			ri.LastPushed = fromNS(pushed.Int64)
		}
		if pulled.Valid {
			ri.LastPulled = fromNS(pulled.Int64)
		}
		out = append(out, ri)
	}
	return out, rows.Err()
}
