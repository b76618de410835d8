package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/meta"

	// The pure-Go SQLite driver registers itself as "sqlite".
	_ "modernc.org/sqlite"
)

// Store implements meta.Store over SQLite or PostgreSQL.
type Store struct {
	d dialect
	// db takes every write; on SQLite it is one connection, so writers of
	// this process queue in Go instead of failing with SQLITE_BUSY.
	db *sql.DB
	// reads serves reads: a pool of read-only connections on SQLite (WAL
	// lets them run beside the writer); the same pool as db on PostgreSQL.
	reads *sql.DB
	now   func() time.Time
}

var _ meta.Store = (*Store)(nil)

type options struct {
	now         func() time.Time
	maxConns    int
	busyTimeout time.Duration
}

// Option configures Open.
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

// WithMaxConns bounds the connection pool: all connections on PostgreSQL,
// the read-only connections on SQLite (which always has exactly one writer
// connection). Default: 10 on PostgreSQL, 4 on SQLite.
func WithMaxConns(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("max connections %d < 1", n)
		}
		o.maxConns = n
		return nil
	}
}

// WithBusyTimeout sets how long a SQLite connection waits for a lock held
// by another process sharing the file before failing. Ignored on
// PostgreSQL. Default: 10s.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("negative busy timeout %v", d)
		}
		o.busyTimeout = d
		return nil
	}
}

// Open connects to the database named by dsn and brings its schema up to
// date. A dsn starting with postgres:// or postgresql:// selects
// PostgreSQL (any libpq URL parameters pgx accepts); anything else is the
// path of a SQLite database file, created with its directory if missing.
//
// Open reads only the schema version: its cost does not grow with the
// amount of data stored. Several processes may open the same database at
// once; migrations run in one transaction under a lock (an advisory lock on
// PostgreSQL, the write lock on SQLite), so exactly one applies them.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{now: time.Now, busyTimeout: 10 * time.Second}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
	}
	ms, err := loadMigrations()
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	var s *Store
	if isPostgres(dsn) {
		s, err = openPostgres(ctx, dsn, o)
	} else {
		s, err = openSQLite(ctx, dsn, o)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, ms); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func openPostgres(ctx context.Context, dsn string, o options) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("sqlstore: parse PostgreSQL URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	n := o.maxConns
	if n == 0 {
		n = 10
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect to %s: %w", redact(dsn), err)
	}
	return &Store{d: postgresDialect, db: db, reads: db, now: o.now}, nil
}

// openSQLite opens one writer connection and a pool of read-only ones.
// WAL lets readers proceed during a write; BEGIN IMMEDIATE takes the write
// lock up front, so a transaction never fails upgrading a read lock when
// another process shares the file (busy_timeout covers the wait).
func openSQLite(ctx context.Context, path string, o options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlstore: empty database path: %w", meta.ErrInvalid)
	}
	if strings.ContainsRune(path, '?') || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlstore: SQLite database must be a plain file path, got %q: %w", path, meta.ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlstore: create database directory: %w", err)
		}
	}
	busy := strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)
	// A 16 MiB page cache per connection (SQLite's default is 2 MiB) keeps
	// the digest-keyed indexes of a large registry in memory.
	common := "_busy_timeout=" + busy + "&_foreign_keys=1&_pragma=cache_size(-16384)"
	writer, err := sql.Open("sqlite", path+"?"+common+"&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)
	if err := pingSQLite(ctx, writer, o.busyTimeout); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	n := o.maxConns
	if n == 0 {
		n = 4
	}
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	return &Store{d: sqliteDialect, db: writer, reads: reader, now: o.now}, nil
}

// pingSQLite opens the first connection. Switching a new file to WAL
// takes an exclusive lock and SQLite reports a competing opener as busy
// without calling the busy handler, so retry for up to the busy timeout.
func pingSQLite(ctx context.Context, db *sql.DB, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := db.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close releases the database handles.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.reads != s.db {
		err = errors.Join(err, s.reads.Close())
	}
	return err
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "<PostgreSQL URL>"
	}
	return u.Redacted()
}

// maxAttempts bounds reruns of a transaction PostgreSQL aborted to break a
// deadlock or serialization conflict.
const maxAttempts = 5

// write runs fn in a read-write transaction and commits it. Errors from fn
// roll the transaction back and are returned unchanged.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = runTx(ctx, s.db, nil, fn)
		if err == nil || !isRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
		}
	}
	return err
}

// read runs fn in a read-only transaction that sees one snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return runTx(ctx, s.reads, &s.d.snapshot, fn)
}

func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // fn's error is the one that matters
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

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
	err := tx.QueryRowContext(ctx, s.d.q(`SELECT id FROM repositories WHERE name = ?`), name).Scan(&id)
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
	if _, err := tx.ExecContext(ctx, s.d.q(
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
