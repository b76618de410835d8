package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

const (
	// migrationTable records the applied migrations of migrations/.
	migrationTable = "schema_migrations"
	// migrationLockKey is the PostgreSQL advisory lock key taken while
	// migrating ("moatmeta" in ASCII), so replicas starting together apply
	// each migration once.
	migrationLockKey int64 = 0x6d6f61746d657461
)

// Store implements meta.Store over SQLite or PostgreSQL.
type Store struct {
	db         *sqldb.DB
	now        func() time.Time
	outbox     *events.Outbox // nil: no events
	mutability meta.TagMutability
}

var _ meta.Store = (*Store)(nil)

type options struct {
	now        func() time.Time
	outbox     *events.Outbox
	mutability meta.TagMutability
}

// WithDefaultTagMutability sets the tag mutability of repositories that
// have none of their own. Default: mutable.
func WithDefaultTagMutability(t meta.TagMutability) Option {
	return func(o *options) error {
		if err := t.Validate(); err != nil {
			return err
		}
		o.mutability = t
		return nil
	}
}

// Option configures New.
type Option func(*options) error

// WithClock sets the clock used for touch, push and upload times.
// Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("nil clock")
		}
		o.now = now
		return nil
	}
}

// WithOutbox appends image.pushed and image.deleted events to o in the
// transactions that push and delete manifests, so whatever follows from
// them (scans, webhooks) cannot be lost. o must keep its events in the
// store's database. Default: no events.
func WithOutbox(o *events.Outbox) Option {
	return func(opts *options) error {
		if o == nil {
			return errors.New("nil outbox")
		}
		opts.outbox = o
		return nil
	}
}

// New keeps the metadata in db, an open database other stores may share
// (see sqldb.Open), and brings its schema up to date. Close leaves db
// open: the caller closes it after every store using it.
//
// New reads only the schema version: its cost does not grow with the
// amount of data stored. Several processes may open the same database at
// once; migrations run in one transaction under a lock (an advisory lock on
// PostgreSQL, the write lock on SQLite), so exactly one applies them.
func New(ctx context.Context, db *sqldb.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil database")
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
	}
	if err := db.Migrate(ctx, migrations, "migrations", migrationTable, migrationLockKey); err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return &Store{db: db, now: o.now, outbox: o.outbox, mutability: o.mutability}, nil
}

// Close releases nothing: the database belongs to New's caller, who
// closes it after every store using it.
func (s *Store) Close() error { return nil }

func (s *Store) nowNS() int64 { return s.now().UnixNano() }

func fromNS(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func timeOr(t time.Time, def int64) int64 {
	if t.IsZero() {
		return def
	}
	return t.UnixNano()
}

// repoID returns a repository's id; meta.ErrNotFound if it does not exist.
func (s *Store) repoID(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, s.db.Q(`SELECT id FROM repositories WHERE name = ?`), name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("repository %q: %w", name, meta.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("look up repository %q: %w", name, err)
	}
	return id, nil
}

// ensureRepo returns a repository's id, creating the repository if needed.
// It takes no lock on an existing repository row, so writers of one
// repository do not serialize on it. Every write transaction calls it
// before locking blob rows, keeping one lock order.
func (s *Store) ensureRepo(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	id, err := s.repoID(ctx, tx, name)
	if !errors.Is(err, meta.ErrNotFound) {
		return id, err
	}
	if _, err := tx.ExecContext(ctx, s.db.Q(
		`INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`),
		name, s.nowNS()); err != nil {
		return 0, fmt.Errorf("create repository %q: %w", name, err)
	}
	// A concurrent creator may have won; a new statement sees its row.
	return s.repoID(ctx, tx, name)
}

// checkName validates a repository name or tag for storage. Grammar is the
// caller's concern; this only rejects what the databases cannot hold.
func checkName(kind, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("empty %s: %w", kind, meta.ErrInvalid)
	case len(v) > 4096:
		return fmt.Errorf("%s longer than 4096 bytes: %w", kind, meta.ErrInvalid)
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		return fmt.Errorf("%s %q is not valid text: %w", kind, v, meta.ErrInvalid)
	}
	return nil
}

func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %v: %w", string(d), err, meta.ErrInvalid)
	}
	return nil
}

// dedupe returns ds without repeats, in first-seen order, validated.
func dedupe(ds []digest.Digest) ([]digest.Digest, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	seen := make(map[digest.Digest]bool, len(ds))
	out := make([]digest.Digest, 0, len(ds))
	for _, d := range ds {
		if err := checkDigest(d); err != nil {
			return nil, err
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out, nil
}

// batchSize bounds rows or IN-list items per statement, far below either
// engine's limit on bound parameters.
const batchSize = 500

// batches calls fn on consecutive slices of ds of at most batchSize.
func batches(ds []digest.Digest, fn func(start int, part []digest.Digest) error) error {
	for i := 0; i < len(ds); i += batchSize {
		if err := fn(i, ds[i:min(i+batchSize, len(ds))]); err != nil {
			return err
		}
	}
	return nil
}

func digestArgs(ds []digest.Digest, prefix ...any) []any {
	args := make([]any, 0, len(prefix)+len(ds))
	args = append(args, prefix...)
	for _, d := range ds {
		args = append(args, string(d))
	}
	return args
}

// limitClause renders a page size; n <= 0 means no limit.
func limitClause(n int) string {
	if n <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}
