package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/sqldb"
)

// PutManifest stores m and points tag at it in one transaction.
//
// The referenced blobs are locked (PostgreSQL: SELECT ... FOR UPDATE in
// digest order, so pushes sharing layers cannot deadlock) and touched
// before anything is written. A concurrent DeleteBlobIfUnreferenced
// therefore either committed first, and the blob shows up missing here, or
// waits for this transaction and then sees the reference. Re-putting an
// existing digest updates only its push time, pusher and the tag; the
// references are checked and touched again all the same.
//
// m must carry a valid digest that matches Content, and Size must equal
// len(Content); otherwise meta.ErrInvalid.
func (s *Store) PutManifest(ctx context.Context, m *meta.Manifest, tag string) (previous digest.Digest, err error) {
	refs, annotations, err := checkManifest(m)
	if err != nil {
		return "", fmt.Errorf("put manifest: %w", err)
	}
	if tag != "" {
		if err := checkName("tag", tag); err != nil {
			return "", fmt.Errorf("put manifest %s: %w", m.Digest, err)
		}
	}
	now := s.nowNS()
	pushedAt := timeOr(m.PushedAt, now)
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		previous = "" // a retried transaction starts over
		repoID, err := s.ensureRepo(ctx, tx, m.Repository)
		if err != nil {
			return err
		}
		if tag != "" {
			// Tag writers of one repository take turns, so the digest a
			// tag moved from is exact even when two pushes race for it.
			if err := s.lockRepo(ctx, tx, repoID); err != nil {
				return err
			}
		}
		missing := &meta.MissingError{}
		// External layers whose bytes are here are locked and touched like
		// the others; those absent are no error.
		if missing.Blobs, err = s.lockLinkedBlobs(ctx, tx, repoID, append(slices.Clone(refs.blobs), refs.external...), now); err != nil {
			return err
		}
		missing.Blobs = slices.DeleteFunc(missing.Blobs, func(d digest.Digest) bool { return slices.Contains(refs.external, d) })
		if missing.Manifests, err = s.missingChildren(ctx, tx, repoID, refs.children); err != nil {
			return err
		}
		if len(missing.Blobs) > 0 || len(missing.Manifests) > 0 {
			return missing
		}
		id, err := s.upsertManifest(ctx, tx, repoID, m, annotations, pushedAt, refs)
		if err != nil {
			return err
		}
		if tag != "" {
			if previous, err = s.tagTarget(ctx, tx, repoID, tag); err != nil {
				return err
			}
			if previous != "" && previous != m.Digest {
				mut, err := s.mutabilityTx(ctx, tx, repoID)
				if err != nil {
					return err
				}
				if mut.Fixed(tag) {
					return &meta.TagImmutableError{Repository: m.Repository, Tag: tag, Current: previous.String()}
				}
			}
			if _, err := tx.ExecContext(ctx, s.db.Q(`
				INSERT INTO tags (repository_id, name, manifest_id, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (repository_id, name) DO UPDATE
				SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at`),
				repoID, tag, id, now); err != nil {
				return fmt.Errorf("set tag %q: %w", tag, err)
			}
		}
		data := imageData(m)
		data.Tag = tag
		if previous != m.Digest {
			data.Previous = string(previous)
		}
		return s.emit(ctx, tx, events.ImagePushed, data)
	})
	if err != nil {
		return "", fmt.Errorf("put manifest %s@%s: %w", m.Repository, m.Digest, err)
	}
	s.wake()
	return previous, nil
}

// lockRepo holds the repository's row until the transaction ends
// (PostgreSQL; SQLite's write transactions are already serial).
func (s *Store) lockRepo(ctx context.Context, tx *sql.Tx, repoID int64) error {
	if s.db.ForUpdate() == "" {
		return nil
	}
	var id int64
	if err := tx.QueryRowContext(ctx, s.db.Q(`SELECT id FROM repositories WHERE id = ?`+s.db.ForUpdate()), repoID).Scan(&id); err != nil {
		return fmt.Errorf("lock repository: %w", err)
	}
	return nil
}

// tagTarget returns the digest tag points at, or "" if it does not exist.
func (s *Store) tagTarget(ctx context.Context, tx *sql.Tx, repoID int64, tag string) (digest.Digest, error) {
	var d string
	err := tx.QueryRowContext(ctx, s.db.Q(`
		SELECT m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id
		WHERE t.repository_id = ? AND t.name = ?`), repoID, tag).Scan(&d)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read tag %q: %w", tag, err)
	}
	return digest.Digest(d), nil
}

// manifestRefs are a manifest's checked, de-duplicated references.
type manifestRefs struct {
	blobs, external, children []digest.Digest
}

func checkManifest(m *meta.Manifest) (refs manifestRefs, annotations any, err error) {
	if err := checkName("repository", m.Repository); err != nil {
		return refs, nil, err
	}
	if err := checkDigest(m.Digest); err != nil {
		return refs, nil, err
	}
	if m.Size != int64(len(m.Content)) {
		return refs, nil, fmt.Errorf("manifest %s: size %d but %d content bytes: %w", m.Digest, m.Size, len(m.Content), meta.ErrInvalid)
	}
	if got := m.Digest.Algorithm().FromBytes(m.Content); got != m.Digest {
		return refs, nil, fmt.Errorf("manifest %s: content digest is %s: %w", m.Digest, got, meta.ErrInvalid)
	}
	if m.Subject != "" {
		if err := checkDigest(m.Subject); err != nil {
			return refs, nil, fmt.Errorf("subject: %w", err)
		}
	}
	if refs.blobs, err = dedupe(m.Blobs); err != nil {
		return refs, nil, fmt.Errorf("blobs: %w", err)
	}
	if refs.external, err = dedupe(m.External); err != nil {
		return refs, nil, fmt.Errorf("external blobs: %w", err)
	}
	// A digest that must be pushed is a blob reference, not an external one.
	refs.external = slices.DeleteFunc(refs.external, func(d digest.Digest) bool { return slices.Contains(refs.blobs, d) })
	if refs.children, err = dedupe(m.Children); err != nil {
		return refs, nil, fmt.Errorf("children: %w", err)
	}
	if len(m.Annotations) > 0 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return refs, nil, fmt.Errorf("annotations: %v: %w", err, meta.ErrInvalid)
		}
		annotations = string(b)
	}
	return refs, annotations, nil
}

// lockLinkedBlobs locks and touches those of blobs that are linked to the
// repository and returns the others.
func (s *Store) lockLinkedBlobs(ctx context.Context, tx *sql.Tx, repoID int64, blobs []digest.Digest, now int64) ([]digest.Digest, error) {
	if len(blobs) == 0 {
		return nil, nil
	}
	sorted := slices.Clone(blobs)
	slices.Sort(sorted)
	found := make(map[digest.Digest]bool, len(sorted))
	err := batches(sorted, func(_ int, part []digest.Digest) error {
		rows, err := tx.QueryContext(ctx, s.db.Q(`
			SELECT b.digest FROM blobs b
			WHERE b.digest IN (`+sqldb.Placeholders(len(part))+`)
			AND EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.repository_id = ? AND rb.digest = b.digest)
			ORDER BY b.digest`+s.db.ForUpdate()), append(digestArgs(part), repoID)...)
		if err != nil {
			return fmt.Errorf("lock blobs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				return fmt.Errorf("lock blobs: %w", err)
			}
			found[digest.Digest(d)] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock blobs: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.db.Q(`
			UPDATE blobs SET touched_at = CASE WHEN touched_at > ? THEN touched_at ELSE ? END
			WHERE digest IN (`+sqldb.Placeholders(len(part))+`)`), digestArgs(part, now, now)...); err != nil {
			return fmt.Errorf("touch blobs: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var missing []digest.Digest
	for _, d := range blobs {
		if !found[d] {
			missing = append(missing, d)
		}
	}
	return missing, nil
}

// missingChildren returns those of children that are not manifests of the
// repository. Children are not locked: deleting a child an index lists is
// allowed at any time (see DeleteManifest).
func (s *Store) missingChildren(ctx context.Context, tx *sql.Tx, repoID int64, children []digest.Digest) ([]digest.Digest, error) {
	found := make(map[digest.Digest]bool, len(children))
	err := batches(children, func(_ int, part []digest.Digest) error {
		rows, err := tx.QueryContext(ctx, s.db.Q(`
			SELECT digest FROM manifests WHERE repository_id = ? AND digest IN (`+sqldb.Placeholders(len(part))+`)`),
			digestArgs(part, repoID)...)
		if err != nil {
			return fmt.Errorf("find children: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				return fmt.Errorf("find children: %w", err)
			}
			found[digest.Digest(d)] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	var missing []digest.Digest
	for _, d := range children {
		if !found[d] {
			missing = append(missing, d)
		}
	}
	return missing, nil
}

// upsertManifest inserts the manifest with its references, or updates push
// time and pusher of an existing one, and returns its id.
func (s *Store) upsertManifest(ctx context.Context, tx *sql.Tx, repoID int64, m *meta.Manifest, annotations any, pushedAt int64, refs manifestRefs) (int64, error) {
	var subject any
	if m.Subject != "" {
		subject = string(m.Subject)
	}
	// A concurrent DeleteManifest can remove the row between the two
	// statements; the next round then inserts it.
	for range 3 {
		var id int64
		err := tx.QueryRowContext(ctx, s.db.Q(`
			INSERT INTO manifests (repository_id, digest, media_type, artifact_type, size, content,
				subject, annotations, pushed_at, pushed_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (repository_id, digest) DO NOTHING
			RETURNING id`),
			repoID, string(m.Digest), m.MediaType, m.ArtifactType, m.Size, m.Content,
			subject, annotations, pushedAt, m.PushedBy).Scan(&id)
		if err == nil {
			if err := s.insertRefs(ctx, tx, "manifest_blobs", "digest", id, refs.blobs, ""); err != nil {
				return 0, err
			}
			if err := s.insertRefs(ctx, tx, "manifest_external_blobs", "digest", id, refs.external, ""); err != nil {
				return 0, err
			}
			return id, s.insertRefs(ctx, tx, "manifest_children", "child_digest", id, refs.children, "")
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("insert manifest: %w", err)
		}
		err = tx.QueryRowContext(ctx, s.db.Q(`
			UPDATE manifests SET pushed_at = ?, pushed_by = ?
			WHERE repository_id = ? AND digest = ? RETURNING id`),
			pushedAt, m.PushedBy, repoID, string(m.Digest)).Scan(&id)
		if err == nil {
			// Manifests stored before external references were kept gain
			// them when pushed again.
			return id, s.insertRefs(ctx, tx, "manifest_external_blobs", "digest", id, refs.external,
				" ON CONFLICT (manifest_id, digest) DO NOTHING")
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("update manifest: %w", err)
		}
	}
	return 0, fmt.Errorf("manifest %s kept appearing and disappearing: %w", m.Digest, meta.ErrConflict)
}

// insertRefs writes a manifest's blob or child references, keeping order;
// suffix ends the INSERT (an ON CONFLICT clause, or "").
func (s *Store) insertRefs(ctx context.Context, tx *sql.Tx, table, column string, id int64, ds []digest.Digest, suffix string) error {
	return batches(ds, func(start int, part []digest.Digest) error {
		args := make([]any, 0, 3*len(part))
		for i, d := range part {
			args = append(args, id, string(d), start+i)
		}
		values := strings.Repeat("(?, ?, ?), ", len(part)-1) + "(?, ?, ?)"
		if _, err := tx.ExecContext(ctx, s.db.Q(
			`INSERT INTO `+table+` (manifest_id, `+column+`, ordinal) VALUES `+values+suffix), args...); err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
		return nil
	})
}

// GetManifest returns a manifest with its references (Blobs and Children
// in the order they were put, without repeats).
func (s *Store) GetManifest(ctx context.Context, repo string, d digest.Digest) (*meta.Manifest, error) {
	m := &meta.Manifest{Repository: repo, Digest: d}
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		var (
			id                   int64
			subject, annotations sql.NullString
			pushedAt             int64
			pulledAt             sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, s.db.Q(`
			SELECT m.id, m.media_type, m.artifact_type, m.size, m.content, m.subject, m.annotations,
				m.pushed_at, m.pushed_by, m.pulled_at
			FROM manifests m JOIN repositories r ON r.id = m.repository_id
			WHERE r.name = ? AND m.digest = ?`), repo, string(d)).
			Scan(&id, &m.MediaType, &m.ArtifactType, &m.Size, &m.Content, &subject, &annotations,
				&pushedAt, &m.PushedBy, &pulledAt)
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrNotFound
		}
		if err != nil {
			return err
		}
		m.Subject = digest.Digest(subject.String)
		if m.Annotations, err = decodeAnnotations(annotations); err != nil {
			return err
		}
		m.PushedAt = fromNS(pushedAt)
		if pulledAt.Valid {
			m.PulledAt = fromNS(pulledAt.Int64)
		}
		rows, err := tx.QueryContext(ctx, s.db.Q(`
			SELECT 0, digest, ordinal FROM manifest_blobs WHERE manifest_id = ?
			UNION ALL
			SELECT 1, child_digest, ordinal FROM manifest_children WHERE manifest_id = ?
			UNION ALL
			SELECT 2, digest, ordinal FROM manifest_external_blobs WHERE manifest_id = ?
			ORDER BY 1, 3`), id, id, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				kind, ordinal int
				ref           string
			)
			if err := rows.Scan(&kind, &ref, &ordinal); err != nil {
				return err
			}
			switch kind {
			case 0:
				m.Blobs = append(m.Blobs, digest.Digest(ref))
			case 1:
				m.Children = append(m.Children, digest.Digest(ref))
			default:
				m.External = append(m.External, digest.Digest(ref))
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("manifest %s@%s: %w", repo, d, err)
	}
	return m, nil
}

func decodeAnnotations(v sql.NullString) (map[string]string, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var a map[string]string
	if err := json.Unmarshal([]byte(v.String), &a); err != nil {
		return nil, fmt.Errorf("stored annotations are corrupt: %w", err)
	}
	return a, nil
}

// ResolveTag returns the digest a tag points to.
func (s *Store) ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
	var d string
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`
		SELECT m.digest FROM tags t
		JOIN repositories r ON r.id = t.repository_id
		JOIN manifests m ON m.id = t.manifest_id
		WHERE r.name = ? AND t.name = ?`), repo, tag).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("tag %s:%s: %w", repo, tag, meta.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("resolve tag %s:%s: %w", repo, tag, err)
	}
	return digest.Digest(d), nil
}

// DeleteManifest removes a manifest, its tags and its references.
//
// Deleting a manifest that an index of the repository lists as a child is
// allowed, as the distribution spec permits: the index stays and its
// reference dangles, so pulling that child then fails with not found.
// Referrers whose subject is the deleted manifest are kept as well.
func (s *Store) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var (
			mediaType, artifactType string
			subject                 sql.NullString
		)
		err := tx.QueryRowContext(ctx, s.db.Q(`
			DELETE FROM manifests
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?
			RETURNING media_type, artifact_type, subject`),
			repo, string(d)).Scan(&mediaType, &artifactType, &subject)
		if errors.Is(err, sql.ErrNoRows) {
			return meta.ErrNotFound
		}
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, events.ImageDeleted, events.ImageData{Repository: repo, Digest: string(d), MediaType: mediaType,
			ArtifactType: artifactType, Subject: subject.String, Actor: meta.Actor(ctx)})
	})
	if err != nil {
		return fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
	}
	s.wake()
	return nil
}

// imageData describes m for an image event.
func imageData(m *meta.Manifest) events.ImageData {
	d := events.ImageData{Repository: m.Repository, Digest: string(m.Digest), MediaType: m.MediaType,
		ArtifactType: m.ArtifactType, Size: m.Size, Subject: string(m.Subject), Actor: m.PushedBy}
	for _, c := range m.Children {
		d.Children = append(d.Children, string(c))
	}
	return d
}

// emit appends an event in tx when the store has an outbox.
func (s *Store) emit(ctx context.Context, tx *sql.Tx, typ string, data events.ImageData) error {
	if s.outbox == nil {
		return nil
	}
	data.SourceIP = meta.SourceIP(ctx)
	e, err := events.NewEvent(typ, data.Repository+"@"+data.Digest, data)
	if err != nil {
		return err
	}
	return s.outbox.AppendTx(ctx, tx, e)
}

// wake tells this process's event consumers about a committed change.
func (s *Store) wake() {
	if s.outbox != nil {
		s.outbox.Wake()
	}
}

// DeleteTag removes one tag; meta.ErrNotFound if absent.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	err := s.execOne(ctx, `
		DELETE FROM tags
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?`,
		repo, tag)
	if err != nil {
		return fmt.Errorf("delete tag %s:%s: %w", repo, tag, err)
	}
	return nil
}

// ListTags returns a page of a repository's tags in byte-wise lexical
// order; meta.ErrNotFound for an unknown repository.
func (s *Store) ListTags(ctx context.Context, repo string, p meta.Page) ([]string, error) {
	var tags []string
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		id, err := s.repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		tags, err = queryStrings(ctx, tx, s.db.Q(`
			SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name`+limitClause(p.N)),
			id, p.Last)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return tags, nil
}

// ListRepositories returns a page of repository names in byte-wise
// lexical order.
func (s *Store) ListRepositories(ctx context.Context, p meta.Page) ([]string, error) {
	names, err := queryStrings(ctx, s.db.R, s.db.Q(`
		SELECT name FROM repositories WHERE name > ? ORDER BY name`+limitClause(p.N)), p.Last)
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	return names, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Referrers lists the manifests of repo whose subject is d, by digest; an
// unknown repository or subject has none.
func (s *Store) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]meta.Descriptor, error) {
	query := `
		SELECT media_type, artifact_type, digest, size, annotations FROM manifests
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND subject = ?`
	args := []any{repo, string(d)}
	if artifactType != "" {
		query += ` AND artifact_type = ?`
		args = append(args, artifactType)
	}
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(query+` ORDER BY digest`), args...)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s@%s: %w", repo, d, err)
	}
	defer rows.Close()
	out := []meta.Descriptor{}
	for rows.Next() {
		var (
			desc        meta.Descriptor
			dg          string
			annotations sql.NullString
		)
		if err := rows.Scan(&desc.MediaType, &desc.ArtifactType, &dg, &desc.Size, &annotations); err != nil {
			return nil, fmt.Errorf("referrers of %s@%s: %w", repo, d, err)
		}
		desc.Digest = digest.Digest(dg)
		if desc.Annotations, err = decodeAnnotations(annotations); err != nil {
			return nil, fmt.Errorf("referrer %s: %w", dg, err)
		}
		out = append(out, desc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("referrers of %s@%s: %w", repo, d, err)
	}
	return out, nil
}

// FetchManifest implements meta.Store: one statement, where GetManifest
// and ResolveTag take a transaction and three.
func (s *Store) FetchManifest(ctx context.Context, repo, tag string, d digest.Digest) (*meta.Manifest, error) {
	const cols = `SELECT m.digest, m.media_type, m.artifact_type, m.size, m.content, m.subject, m.annotations,
		m.pushed_at, m.pushed_by, m.pulled_at `
	var row *sql.Row
	if d != "" {
		row = s.db.R.QueryRowContext(ctx, s.db.Q(cols+`FROM manifests m JOIN repositories r ON r.id = m.repository_id
			WHERE r.name = ? AND m.digest = ?`), repo, string(d))
	} else {
		row = s.db.R.QueryRowContext(ctx, s.db.Q(cols+`FROM tags t JOIN repositories r ON r.id = t.repository_id
			JOIN manifests m ON m.id = t.manifest_id WHERE r.name = ? AND t.name = ?`), repo, tag)
	}
	m := &meta.Manifest{Repository: repo}
	var (
		dg                   string
		subject, annotations sql.NullString
		pushedAt             int64
		pulledAt             sql.NullInt64
	)
	err := row.Scan(&dg, &m.MediaType, &m.ArtifactType, &m.Size, &m.Content, &subject, &annotations, &pushedAt, &m.PushedBy, &pulledAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("manifest %s %s%s: %w", repo, tag, d, meta.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch manifest %s %s%s: %w", repo, tag, d, err)
	}
	m.Digest, m.Subject = digest.Digest(dg), digest.Digest(subject.String)
	if m.Annotations, err = decodeAnnotations(annotations); err != nil {
		return nil, err
	}
	m.PushedAt = fromNS(pushedAt)
	if pulledAt.Valid {
		m.PulledAt = fromNS(pulledAt.Int64)
	}
	return m, nil
}

// MarkPulled records a pull; the pull time never moves backwards.
func (s *Store) MarkPulled(ctx context.Context, repo string, d digest.Digest, at time.Time) error {
	ns := timeOr(at, s.nowNS())
	err := s.execOne(ctx, `
		UPDATE manifests SET pulled_at = CASE
			WHEN pulled_at IS NOT NULL AND pulled_at > ? THEN pulled_at ELSE ? END
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`,
		ns, ns, repo, string(d))
	if err != nil {
		return fmt.Errorf("mark pulled %s@%s: %w", repo, d, err)
	}
	return nil
}

// LocateTx lists, inside tx (a transaction on the store's database, such
// as another store's), the repositories holding manifest d and the tags
// pointing at it in each, by repository name.
func (s *Store) LocateTx(ctx context.Context, tx *sql.Tx, d digest.Digest) ([]meta.Location, error) {
	rows, err := tx.QueryContext(ctx, s.db.Q(`
		SELECT r.name, t.name FROM manifests m
		JOIN repositories r ON r.id = m.repository_id
		LEFT JOIN tags t ON t.manifest_id = m.id
		WHERE m.digest = ?
		ORDER BY r.name, t.name`), string(d))
	if err != nil {
		return nil, fmt.Errorf("locate %s: %w", d, err)
	}
	defer rows.Close()
	var out []meta.Location
	for rows.Next() {
		var (
			repo string
			tag  sql.NullString
		)
		if err := rows.Scan(&repo, &tag); err != nil {
			return nil, fmt.Errorf("locate %s: %w", d, err)
		}
		if len(out) == 0 || out[len(out)-1].Repository != repo {
			out = append(out, meta.Location{Repository: repo})
		}
		if tag.Valid {
			out[len(out)-1].Tags = append(out[len(out)-1].Tags, tag.String)
		}
	}
	return out, rows.Err()
}

// Parents lists the indexes in repo that hold the manifest d.
func (s *Store) Parents(ctx context.Context, repo string, d digest.Digest) ([]digest.Digest, error) {
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`
		SELECT m.digest FROM manifest_children c
		JOIN manifests m ON m.id = c.manifest_id
		WHERE c.child_digest = ? AND m.repository_id = (SELECT id FROM repositories WHERE name = ?)
		ORDER BY m.digest`), string(d), repo)
	if err != nil {
		return nil, fmt.Errorf("parents of %s@%s: %w", repo, d, err)
	}
	defer rows.Close()
	var out []digest.Digest
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("parents of %s@%s: %w", repo, d, err)
		}
		out = append(out, digest.Digest(p))
	}
	return out, rows.Err()
}
