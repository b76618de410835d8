package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names a database engine.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// ErrSchemaTooNew: the database was migrated by a newer binary.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// DB is an open database: W takes writes (one connection on SQLite, so
// this process's writers queue instead of failing busy), R serves reads.
type DB struct {
	Engine Engine
	W, R   *sql.DB
	owned  bool
}

// IsPostgres reports whether dsn selects PostgreSQL.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open connects to dsn: a postgres:// URL, or the path of a SQLite file
// (created with its directory if missing).
func Open(ctx context.Context, dsn string) (*DB, error) {
	if IsPostgres(dsn) {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("parse PostgreSQL URL: %w", err)
		}
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(10)
		db.SetMaxIdleConns(10)
		db.SetConnMaxIdleTime(5 * time.Minute)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect to %s: %w", redact(dsn), err)
		}
		return &DB{Engine: Postgres, W: db, R: db, owned: true}, nil
	}
	if dsn == "" || strings.ContainsRune(dsn, '?') || dsn == ":memory:" || strings.HasPrefix(dsn, "file:") {
		return nil, fmt.Errorf("SQLite database must be a plain file path, got %q", dsn)
	}
	if err := os.MkdirAll(filepath.Dir(dsn), 0o750); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	common := "_busy_timeout=10000&_foreign_keys=1"
	w, err := sql.Open("sqlite", dsn+"?"+common+"&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	if err := pingSQLite(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	r, err := sql.Open("sqlite", dsn+"?"+common+"&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	return &DB{Engine: SQLite, W: w, R: r, owned: true}, nil
}

// Wrap uses handles opened elsewhere (say, shared with the metadata
// store); Close then leaves them open. On SQLite, w must be limited to one
// connection and opened with _txlock=immediate.
func Wrap(engine Engine, w, r *sql.DB) (*DB, error) {
	if engine != SQLite && engine != Postgres || w == nil {
		return nil, fmt.Errorf("sqldb: Wrap needs an engine and a writer handle")
	}
	if r == nil {
		r = w
	}
	return &DB{Engine: engine, W: w, R: r}, nil
}

// pingSQLite retries the first connection: switching a new file to WAL
// takes an exclusive lock that SQLite reports as busy without waiting.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
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

// Close closes handles Open opened.
func (d *DB) Close() error {
	if !d.owned {
		return nil
	}
	err := d.W.Close()
	if d.R != d.W {
		err = errors.Join(err, d.R.Close())
	}
	return err
}

// Q rewrites "?" placeholders to "$1, $2..." on PostgreSQL.
func (d *DB) Q(query string) string {
	if d.Engine != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// ForUpdate is appended to a SELECT that must lock its rows: " FOR
// UPDATE" on PostgreSQL; nothing on SQLite, whose write transactions
// already exclude each other.
func (d *DB) ForUpdate() string {
	if d.Engine == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// Write runs fn in a read-write transaction, rerunning it when PostgreSQL
// aborts it to break a deadlock or serialization conflict.
func (d *DB) Write(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
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

// Read runs fn in a read-only transaction that sees one snapshot.
func (d *DB) Read(ctx context.Context, fn func(*sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if d.Engine == Postgres {
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

var (
	tableRE     = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	migrationRE = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)
)

// Migrate applies the numbered files dir/NNNN_name.sql of fsys not yet
// recorded in table, in one transaction, under lockKey (a PostgreSQL
// advisory lock; SQLite's write lock serves on SQLite). Files may use
// {{ID}} (an auto-increment primary key), {{C}} (byte-wise collation)
// and {{BYTES}} (a binary column).
func (d *DB) Migrate(ctx context.Context, fsys fs.FS, dir, table string, lockKey int64) error {
	if !tableRE.MatchString(table) {
		return fmt.Errorf("migration table %q is not a plain identifier", table)
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return err
	}
	type mig struct {
		v    int64
		name string
		sql  string
	}
	var ms []mig
	for _, e := range entries {
		m := migrationRE.FindStringSubmatch(e.Name())
		if m == nil {
			return fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		ms = append(ms, mig{v, e.Name(), string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].v < ms[j].v })
	for i, m := range ms {
		if m.v != int64(i+1) {
			return fmt.Errorf("migrations not numbered 1..n: %s at position %d", m.name, i+1)
		}
	}
	ddl := strings.NewReplacer("{{ID}}", "INTEGER PRIMARY KEY", "{{C}}", "", "{{BYTES}}", "BLOB")
	if d.Engine == Postgres {
		ddl = strings.NewReplacer("{{ID}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "{{C}}", `COLLATE "C"`, "{{BYTES}}", "BYTEA")
	}
	err = d.Write(ctx, func(tx *sql.Tx) error {
		if d.Engine == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
			version    BIGINT PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("create %s: %w", table, err)
		}
		var current int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+table).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > int64(len(ms)) {
			return fmt.Errorf("%s at version %d, this binary knows up to %d: %w", table, current, len(ms), ErrSchemaTooNew)
		}
		for _, m := range ms[current:] {
			if _, err := tx.ExecContext(ctx, ddl.Replace(m.sql)); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, d.Q(`INSERT INTO `+table+` (version, name, applied_at) VALUES (?, ?, ?)`),
				m.v, m.name, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate %s: %w", d.Engine, err)
	}
	return nil
}

// IsUniqueViolation reports a unique or primary key constraint failure.
func IsUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || lite.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsForeignKeyViolation reports a foreign key constraint failure.
func IsForeignKeyViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23503"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

func isRetryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40001" || pg.Code == "40P01")
}

func isBusy(err error) bool {
	var lite *sqlite.Error
	return errors.As(err, &lite) && lite.Code()&0xff == sqlite3.SQLITE_BUSY
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "<PostgreSQL URL>"
	}
	return u.Redacted()
}
