// Package inventory records where images run: the containers of running
// Kubernetes pods and ECS tasks, with the digest each runs, so that a
// new vulnerability can be traced to the pods it affects.
package inventory

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moatinvt").
const migrationLockKey int64 = 0x6d6f6174696e7674

// Sources of records.
const (
	Kubernetes = "kubernetes"
	ECS        = "ecs"
)

// ErrInvalid: a record or query is malformed; nothing was stored.
var ErrInvalid = errors.New("inventory: invalid")

// Place is one container running an image.
type Place struct {
	Source    string `json:"source"`
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace,omitempty"`
	// WorkloadKind and WorkloadName name what runs the pod (Deployment,
	// StatefulSet, an ECS service...), when known.
	WorkloadKind string `json:"workloadKind,omitempty"`
	WorkloadName string `json:"workloadName,omitempty"`
	// Pod is the pod's name, or the ECS task's ARN.
	Pod           string    `json:"pod"`
	Container     string    `json:"container"`
	ContainerType string    `json:"containerType,omitempty"`
	Image         string    `json:"image"`
	Repository    string    `json:"repository,omitempty"`
	Digest        string    `json:"digest,omitempty"`
	FirstSeen     time.Time `json:"firstSeen"`
	LastSeen      time.Time `json:"lastSeen"`
}

func (p Place) validate() error {
	switch {
	case p.Source != Kubernetes && p.Source != ECS:
		return fmt.Errorf("%w: source %q: want %s or %s", ErrInvalid, p.Source, Kubernetes, ECS)
	case p.Cluster == "" || p.Pod == "" || p.Container == "" || p.Image == "":
		return fmt.Errorf("%w: a place needs a cluster, a pod or task, a container and an image", ErrInvalid)
	case len(p.Cluster)+len(p.Namespace)+len(p.Pod)+len(p.Container)+len(p.Image)+len(p.WorkloadName) > 8192:
		return fmt.Errorf("%w: a place's names are over 8 KiB", ErrInvalid)
	case p.Digest != "" && !strings.HasPrefix(p.Digest, "sha256:") && !strings.HasPrefix(p.Digest, "sha512:"):
		return fmt.Errorf("%w: digest %q", ErrInvalid, p.Digest)
	}
	return nil
}

// Store keeps the inventory in the metadata database.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
}

// New returns the store, bringing its table up to date.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := db.Migrate(ctx, migrations, "migrations", "inventory_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return &Store{db: db, now: time.Now}, nil
}

// SetClock sets the clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

const upsert = `
	INSERT INTO inventory (source, cluster, namespace, workload_kind, workload_name, pod, container,
		container_type, image, repository, digest, first_seen, last_seen)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (source, cluster, namespace, pod, container) DO UPDATE SET
		workload_kind = excluded.workload_kind, workload_name = excluded.workload_name,
		container_type = excluded.container_type, image = excluded.image,
		repository = excluded.repository, digest = excluded.digest,
		last_seen = CASE WHEN excluded.last_seen > inventory.last_seen THEN excluded.last_seen ELSE inventory.last_seen END`

// Record adds or refreshes places (seen now).
func (s *Store) Record(ctx context.Context, places ...Place) error {
	return s.record(ctx, s.now(), places, nil)
}

func (s *Store) record(ctx context.Context, seen time.Time, places []Place, also func(*sql.Tx) error) error {
	for _, p := range places {
		if err := p.validate(); err != nil {
			return err
		}
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.db.Q(upsert))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range places {
			if _, err := stmt.ExecContext(ctx, p.Source, p.Cluster, p.Namespace, p.WorkloadKind, p.WorkloadName, p.Pod,
				p.Container, p.ContainerType, p.Image, p.Repository, p.Digest, seen.UnixNano(), seen.UnixNano()); err != nil {
				return fmt.Errorf("inventory: record %s/%s/%s: %w", p.Cluster, p.Pod, p.Container, err)
			}
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
}

// Reconcile makes a cluster's records of source what a listing made at
// listedAt found: places are added or refreshed, and records not seen
// since listedAt (pods that are gone) are removed. Pods admitted while
// the listing ran are seen after listedAt and stay.
func (s *Store) Reconcile(ctx context.Context, source, cluster string, listedAt time.Time, places []Place) (removed int64, err error) {
	if cluster == "" {
		return 0, fmt.Errorf("%w: reconcile needs a cluster", ErrInvalid)
	}
	for _, p := range places {
		if p.Source != source || p.Cluster != cluster {
			return 0, fmt.Errorf("%w: a place of %s/%s in a reconcile of %s/%s", ErrInvalid, p.Source, p.Cluster, source, cluster)
		}
	}
	err = s.record(ctx, listedAt, places, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM inventory WHERE source = ? AND cluster = ? AND last_seen < ?`),
			source, cluster, listedAt.UnixNano())
		if err != nil {
			return fmt.Errorf("inventory: reconcile %s: %w", cluster, err)
		}
		removed, err = res.RowsAffected()
		return err
	})
	return removed, err
}

// Remove deletes the records of one pod or task (an ECS task that
// stopped).
func (s *Store) Remove(ctx context.Context, source, cluster, namespace, pod string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM inventory WHERE source = ? AND cluster = ? AND namespace = ? AND pod = ?`),
			source, cluster, namespace, pod)
		return err
	})
}

// Filter selects places; empty fields select all.
type Filter struct {
	Digests    []string
	Repository string
	Namespace  string
	Cluster    string
	// After and Limit page by id (Limit 0 means 500, at most 5000).
	After int64
	Limit int
}

// List returns the places matching f and the cursor of the next page (0
// when none).
func (s *Store) List(ctx context.Context, f Filter) ([]Place, int64, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	if limit > 5000 {
		return nil, 0, fmt.Errorf("%w: limit %d is over 5000", ErrInvalid, limit)
	}
	q := `SELECT id, source, cluster, namespace, workload_kind, workload_name, pod, container, container_type,
		image, repository, digest, first_seen, last_seen FROM inventory WHERE id > ?`
	args := []any{f.After}
	if len(f.Digests) > 0 {
		if len(f.Digests) > 10000 {
			return nil, 0, fmt.Errorf("%w: over 10000 digests", ErrInvalid)
		}
		q += ` AND digest IN (` + sqldb.Placeholders(len(f.Digests)) + `)`
		for _, d := range f.Digests {
			args = append(args, d)
		}
	}
	for _, c := range []struct{ col, v string }{{"repository", f.Repository}, {"namespace", f.Namespace}, {"cluster", f.Cluster}} {
		if c.v != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit+1)
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(q), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("inventory: list: %w", err)
	}
	defer rows.Close()
	var (
		out  []Place
		ids  []int64
		next int64
	)
	for rows.Next() {
		var (
			p           Place
			id          int64
			first, last int64
		)
		if err := rows.Scan(&id, &p.Source, &p.Cluster, &p.Namespace, &p.WorkloadKind, &p.WorkloadName, &p.Pod,
			&p.Container, &p.ContainerType, &p.Image, &p.Repository, &p.Digest, &first, &last); err != nil {
			return nil, 0, fmt.Errorf("inventory: list: %w", err)
		}
		p.FirstSeen, p.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		out, ids = append(out, p), append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("inventory: list: %w", err)
	}
	if len(out) > limit {
		out, next = out[:limit], ids[limit-1]
	}
	return out, next, nil
}

// Usage counts the places running digest, directly or through an index
// that holds it, and when one was last seen.
func (s *Store) Usage(ctx context.Context, digest string) (int, time.Time, error) {
	var (
		n    int
		last sql.NullInt64
	)
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`SELECT COUNT(*), MAX(last_seen) FROM inventory WHERE digest = ?`+viaIndex),
		digest, digest).Scan(&n, &last)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("inventory: usage of %s: %w", digest, err)
	}
	var t time.Time
	if last.Valid {
		t = time.Unix(0, last.Int64).UTC()
	}
	return n, t, nil
}

// RunningDigests returns the digests of repository's images that run.
func (s *Store) RunningDigests(ctx context.Context, repository string) (map[string]bool, error) {
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`SELECT DISTINCT digest FROM inventory WHERE repository = ? AND digest <> ''`), repository)
	if err != nil {
		return nil, fmt.Errorf("inventory: what runs of %s: %w", repository, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out[d] = true
	}
	return out, rows.Err()
}

// viaIndex extends a "digest = ?" condition to the indexes holding the
// digest (pods name a multi-platform image by its index), read from the
// registry's manifest_children table.
const viaIndex = ` OR digest IN (SELECT m.digest FROM manifest_children c JOIN manifests m ON m.id = c.manifest_id WHERE c.child_digest = ?)`

// RunningTx lists, inside tx, where digest runs (directly or through an
// index): the places finding events name.
func (s *Store) RunningTx(ctx context.Context, tx *sql.Tx, digest string) ([]Place, error) {
	rows, err := tx.QueryContext(ctx, s.db.Q(`SELECT DISTINCT source, cluster, namespace, workload_kind, workload_name, pod, container, repository
		FROM inventory WHERE digest = ?`+viaIndex+` ORDER BY cluster, namespace, pod, container LIMIT 1000`), digest, digest)
	if err != nil {
		return nil, fmt.Errorf("inventory: where %s runs: %w", digest, err)
	}
	defer rows.Close()
	var out []Place
	for rows.Next() {
		var p Place
		if err := rows.Scan(&p.Source, &p.Cluster, &p.Namespace, &p.WorkloadKind, &p.WorkloadName, &p.Pod, &p.Container, &p.Repository); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Affected lists where images with an open finding of vulnerability id
// (or one aliasing it) run, directly or through an index, reading the
// findings store's image_findings table.
func (s *Store) Affected(ctx context.Context, id string, after int64, limit int) ([]Place, int64, error) {
	if id == "" || len(id) > 256 {
		return nil, 0, fmt.Errorf("%w: vulnerability id %q", ErrInvalid, id)
	}
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`
		SELECT DISTINCT f.digest FROM image_findings f
		WHERE f.resolved_at IS NULL AND (f.vuln_id = ? OR f.data LIKE ? ESCAPE '\')`), id, `%"`+likeEscape(id)+`"%`)
	if err != nil {
		return nil, 0, fmt.Errorf("inventory: images affected by %s: %w", id, err)
	}
	var digests []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return nil, 0, err
		}
		digests = append(digests, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(digests) == 0 {
		return nil, 0, nil
	}
	parents, err := s.parents(ctx, digests)
	if err != nil {
		return nil, 0, err
	}
	return s.List(ctx, Filter{Digests: append(digests, parents...), After: after, Limit: limit})
}

// parents returns the indexes holding any of digests.
func (s *Store) parents(ctx context.Context, digests []string) ([]string, error) {
	var out []string
	for chunk := range chunks(digests, 500) {
		args := make([]any, len(chunk))
		for i, d := range chunk {
			args[i] = d
		}
		rows, err := s.db.R.QueryContext(ctx, s.db.Q(`SELECT DISTINCT m.digest FROM manifest_children c
			JOIN manifests m ON m.id = c.manifest_id WHERE c.child_digest IN (`+sqldb.Placeholders(len(chunk))+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("inventory: indexes holding affected images: %w", err)
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func chunks(s []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// likeEscape keeps an id's LIKE wildcards literal (ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
