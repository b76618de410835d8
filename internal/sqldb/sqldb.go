package sqldb

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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	// The pure-Go SQLite driver registers itself as "sqlite".
	_ "modernc.org/sqlite"
)

// Engine names a database engine.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// ErrInvalidDSN: the DSN names no database Open can use.
var ErrInvalidDSN = errors.New("invalid database DSN")

// DB is an open database. W takes every write: on SQLite it is one
// connection, so writers of this process queue in Go instead of failing
// busy. R serves reads: a pool of read-only connections on SQLite (WAL lets
// them run beside the writer), the same pool as W on PostgreSQL.
type DB struct {
	W, R   *sql.DB
	engine Engine
}

type options struct {
	maxConns    int
	busyTimeout time.Duration
}

// Option configures Open.
type Option func(*options) error

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

// IsPostgres reports whether dsn selects PostgreSQL.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Redact returns dsn fit for logs and errors: a PostgreSQL URL without its
// password; a SQLite path unchanged.
func Redact(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "<PostgreSQL URL>"
	}
	return u.Redacted()
}

// Open connects to dsn: a postgres:// or postgresql:// URL (any libpq URL
// parameters pgx accepts), or the path of a SQLite file, created with its
// directory if missing. It reads no data: its cost does not grow with the
// amount stored.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	o := options{busyTimeout: 10 * time.Second}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn, o)
	}
	return openSQLite(ctx, dsn, o)
}

func openPostgres(ctx context.Context, dsn string, o options) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("parse PostgreSQL URL: %w: %w", err, ErrInvalidDSN)
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
		return nil, fmt.Errorf("connect to %s: %w", Redact(dsn), err)
	}
	return &DB{W: db, R: db, engine: Postgres}, nil
}

// openSQLite opens one writer connection and a pool of read-only ones.
// WAL lets readers proceed during a write; BEGIN IMMEDIATE takes the write
// lock up front, so a transaction never fails upgrading a read lock when
// another process shares the file (busy_timeout covers the wait).
func openSQLite(ctx context.Context, path string, o options) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("empty SQLite database path: %w", ErrInvalidDSN)
	}
	if strings.ContainsRune(path, '?') || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("SQLite database must be a plain file path, got %q: %w", path, ErrInvalidDSN)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	busy := strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)
	// A 16 MiB page cache per connection (SQLite's default is 2 MiB) keeps
	// the digest-keyed indexes of a large registry in memory.
	common := "_busy_timeout=" + busy + "&_foreign_keys=1&_pragma=cache_size(-16384)"
	w, err := sql.Open("sqlite", path+"?"+common+"&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := pingSQLite(ctx, w, o.busyTimeout); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	n := o.maxConns
	if n == 0 {
		n = 4
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &DB{W: w, R: r, engine: SQLite}, nil
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

// Close closes the database handles. Every store sharing the DB must be
// done with it first.
func (d *DB) Close() error {
	err := d.W.Close()
	if d.R != d.W {
		err = errors.Join(err, d.R.Close())
	}
	return err
}

// Engine reports which engine the database runs on.
func (d *DB) Engine() Engine { return d.engine }

// Q rewrites a query's "?" placeholders to "$1, $2..." on PostgreSQL.
func (d *DB) Q(query string) string {
	if d.engine != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// ForUpdate is appended to a SELECT that must lock the rows it reads:
// " FOR UPDATE" on PostgreSQL; nothing on SQLite, which has no row locks
// and whose write transactions (BEGIN IMMEDIATE on the single writer
// connection) already exclude each other.
func (d *DB) ForUpdate() string {
	if d.engine == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// LockTx serialises the write transactions that take the same key, until
// tx ends: for work that reads, then writes depending on what it read (a
// first-use creation) where no row exists yet to lock. PostgreSQL takes a
// transaction advisory lock; SQLite's write transactions already exclude
// each other.
func (d *DB) LockTx(ctx context.Context, tx *sql.Tx, key int64) error {
	if d.engine != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key)
	return err
}

// Placeholders returns "?,?,...,?" with n marks, for IN lists.
func Placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// maxAttempts bounds reruns of a transaction PostgreSQL aborted to break a
// deadlock or serialization conflict.
const maxAttempts = 5

// Write runs fn in a read-write transaction on W and commits it, rerunning
// it when PostgreSQL aborts it to break a deadlock or serialization
// conflict. fn may run more than once and must not keep effects outside
// the transaction. Errors from fn roll back and are returned unchanged.
func (d *DB) Write(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = runTx(ctx, d.W, nil, fn)
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

// Read runs fn in a read-only transaction on R that sees one snapshot
// (REPEATABLE READ on PostgreSQL; SQLite read transactions always do).
func (d *DB) Read(ctx context.Context, fn func(*sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if d.engine == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return runTx(ctx, d.R, opts, fn)
}

func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
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
