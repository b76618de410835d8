package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// engines lists how to get a fresh database on each engine.
var engines = []struct {
	name   Engine
	dsn    func(tb testing.TB) string
	locker func(t *testing.T, dsn string, key int64) (release func())
}{
	{SQLite, func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "x.db") }, holdSQLiteWriteLock},
	{Postgres, func(tb testing.TB) string { return pgtest.NewDatabase(tb) }, holdAdvisoryLock},
}

func open(tb testing.TB, dsn string, opts ...Option) *DB {
	tb.Helper()
	db, err := Open(context.Background(), dsn, opts...)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// holdSQLiteWriteLock stands in for another process holding the file's
// write lock, as Migrate's slow path would take it.
func holdSQLiteWriteLock(t *testing.T, dsn string, _ int64) func() {
	other := open(t, dsn)
	tx, err := other.W.BeginTx(t.Context(), nil) // BEGIN IMMEDIATE
	if err != nil {
		t.Fatal(err)
	}
	return func() { tx.Rollback() }
}

// holdAdvisoryLock stands in for a replica migrating right now.
func holdAdvisoryLock(t *testing.T, dsn string, key int64) func() {
	other := open(t, dsn)
	tx, err := other.W.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		t.Fatal(err)
	}
	return func() { tx.Rollback() }
}

func TestQ(t *testing.T) {
	pg := &DB{engine: Postgres}
	if got := pg.Q(`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`); got != `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)` {
		t.Errorf("postgres: %s", got)
	}
	lite := &DB{engine: SQLite}
	if got := lite.Q(`x = ?`); got != `x = ?` {
		t.Errorf("sqlite: %s", got)
	}
	if pg.ForUpdate() != " FOR UPDATE" || lite.ForUpdate() != "" {
		t.Error("ForUpdate")
	}
	for n, want := range map[int]string{-1: "", 0: "", 1: "?", 3: "?,?,?"} {
		if got := Placeholders(n); got != want {
			t.Errorf("Placeholders(%d) = %q, want %q", n, got, want)
		}
	}
	if got := pg.Q(`IN (` + Placeholders(3) + `)`); got != `IN ($1,$2,$3)` {
		t.Errorf("Q(Placeholders) = %s", got)
	}
}

func TestDSN(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://h/db": true, "postgresql://h/db": true, "/var/lib/moat/moat.db": false, "postgres.db": false,
	} {
		if IsPostgres(dsn) != want {
			t.Errorf("IsPostgres(%q) = %v", dsn, !want)
		}
	}
	if got := Redact("postgres://u:s3cret@h:5432/db?sslmode=disable"); strings.Contains(got, "s3cret") || !strings.Contains(got, "u:xxxxx@h:5432/db") {
		t.Errorf("Redact = %s", got)
	}
	if got := Redact("postgres://u:s3cret@h:bad port/db"); strings.Contains(got, "s3cret") {
		t.Errorf("Redact of an unparsable URL = %s", got)
	}
	if got := Redact("/data/my db%1.db"); got != "/data/my db%1.db" {
		t.Errorf("Redact of a path = %s", got)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	for _, dsn := range []string{"", "x.db?mode=memory", ":memory:", "file:x.db", "postgres://u:s3cret@host:notaport/db"} {
		_, err := Open(ctx, dsn)
		if !errors.Is(err, ErrInvalidDSN) {
			t.Errorf("Open(%q) = %v, want ErrInvalidDSN", dsn, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	dir := t.TempDir()
	if _, err := Open(ctx, dir); err == nil {
		t.Error("Open of a directory succeeded")
	}
	if _, err := Open(ctx, filepath.Join(dir, "x.db"), WithMaxConns(0)); err == nil {
		t.Error("WithMaxConns(0) accepted")
	}
	if _, err := Open(ctx, filepath.Join(dir, "x.db"), WithBusyTimeout(-time.Second)); err == nil {
		t.Error("negative busy timeout accepted")
	}
	// An unreachable server fails fast and does not echo the password.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := Open(cctx, "postgres://u:s3cret@127.0.0.1:1/db?sslmode=disable&connect_timeout=5")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "u:xxxxx@127.0.0.1:1") {
		t.Fatalf("error should name the server without the password: %v", err)
	}
}

func TestOpen(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e.name), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := open(t, e.dsn(t), WithMaxConns(2), WithBusyTimeout(time.Second))
			if db.Engine() != e.name {
				t.Fatalf("Engine = %s", db.Engine())
			}
			if err := db.Write(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL)`)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Write(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, db.Q(`INSERT INTO t (k, v) VALUES (?, ?), (?, ?)`), "a", 1, "b", 2)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			var sum int64
			if err := db.Read(ctx, func(tx *sql.Tx) error {
				return tx.QueryRowContext(ctx, db.Q(`SELECT SUM(v) FROM t WHERE k IN (`+Placeholders(2)+`)`), "a", "b").Scan(&sum)
			}); err != nil || sum != 3 {
				t.Fatalf("Read: sum %d, %v", sum, err)
			}
			// Reads cannot write, on either engine.
			if err := db.Read(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, db.Q(`INSERT INTO t (k, v) VALUES (?, ?)`), "c", 3)
				return err
			}); err == nil {
				t.Error("a read transaction wrote")
			}
			// An error from fn rolls back and comes back unchanged.
			errStop := errors.New("stop")
			if err := db.Write(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, db.Q(`DELETE FROM t`)); err != nil {
					return err
				}
				return errStop
			}); err != errStop {
				t.Fatalf("Write = %v, want fn's error", err)
			}
			var n int
			if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 2 {
				t.Fatalf("after a failed write: %d rows, %v", n, err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if err := db.W.PingContext(ctx); err == nil {
				t.Error("writer open after Close")
			}
			if err := db.R.PingContext(ctx); err == nil {
				t.Error("readers open after Close")
			}
		})
	}
}

// A read transaction sees one snapshot while a writer commits beside it.
func TestReadSnapshot(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e.name), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := open(t, e.dsn(t))
			if _, err := db.W.ExecContext(ctx, `CREATE TABLE t (v BIGINT)`); err != nil {
				t.Fatal(err)
			}
			var first, second int
			err := db.Read(ctx, func(tx *sql.Tx) error {
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&first); err != nil {
					return err
				}
				if err := db.Write(ctx, func(w *sql.Tx) error {
					_, err := w.ExecContext(ctx, `INSERT INTO t (v) VALUES (1)`)
					return err
				}); err != nil {
					return err
				}
				return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&second)
			})
			if err != nil {
				t.Fatal(err)
			}
			if first != 0 || second != 0 {
				t.Fatalf("counts in one read transaction: %d then %d, want 0 and 0", first, second)
			}
		})
	}
}

// Two transactions locking two rows in opposite order deadlock;
// PostgreSQL aborts one (40P01) and Write reruns it.
func TestWriteRetriesDeadlock(t *testing.T) {
	ctx := t.Context()
	db := open(t, pgtest.NewDatabase(t))
	if _, err := db.W.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL); INSERT INTO t VALUES ('a', 0), ('b', 0)`); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	locked := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	update := func(i int, first, second string) error {
		firstRun := true
		return db.Write(ctx, func(tx *sql.Tx) error {
			attempts.Add(1)
			if _, err := tx.ExecContext(ctx, `UPDATE t SET v = v + 1 WHERE k = $1`, first); err != nil {
				return err
			}
			if firstRun {
				firstRun = false
				close(locked[i])
				<-locked[1-i]
			}
			_, err := tx.ExecContext(ctx, `UPDATE t SET v = v + 1 WHERE k = $1`, second)
			return err
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = update(0, "a", "b") })
	wg.Go(func() { errs[1] = update(1, "b", "a") })
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("Write did not recover from the deadlock: %v, %v", errs[0], errs[1])
	}
	if n := attempts.Load(); n != 3 {
		t.Fatalf("%d attempts, want 3 (one rerun)", n)
	}
	var sum int
	if err := db.R.QueryRowContext(ctx, `SELECT SUM(v) FROM t`).Scan(&sum); err != nil || sum != 4 {
		t.Fatalf("sum %d, %v; want 4: each transaction applied once", sum, err)
	}
}

func TestViolations(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e.name), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := open(t, e.dsn(t))
			for _, q := range []string{
				`CREATE TABLE p (id BIGINT PRIMARY KEY, name TEXT UNIQUE)`,
				`CREATE TABLE c (p BIGINT NOT NULL REFERENCES p (id))`,
				`INSERT INTO p (id, name) VALUES (1, 'x')`,
				`INSERT INTO c (p) VALUES (1)`,
			} {
				if _, err := db.W.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec := func(q string) error { _, err := db.W.ExecContext(ctx, q); return err }
			if err := exec(`INSERT INTO p (id, name) VALUES (2, 'x')`); !IsUniqueViolation(err) || IsForeignKeyViolation(err) {
				t.Errorf("duplicate name: %v", err)
			}
			if err := exec(`INSERT INTO p (id, name) VALUES (1, 'y')`); !IsUniqueViolation(err) {
				t.Errorf("duplicate primary key: %v", err)
			}
			if err := exec(`INSERT INTO c (p) VALUES (9)`); !IsForeignKeyViolation(err) || IsUniqueViolation(err) {
				t.Errorf("missing parent: %v", err)
			}
			if err := exec(`DELETE FROM p WHERE id = 1`); !IsForeignKeyViolation(err) {
				t.Errorf("referenced parent deleted: %v", err)
			}
			if err := exec(`SELECT nope FROM p`); IsUniqueViolation(err) || IsForeignKeyViolation(err) || err == nil {
				t.Errorf("other error misclassified: %v", err)
			}
			wrapped := fmt.Errorf("context: %w", exec(`INSERT INTO p (id, name) VALUES (3, 'x')`))
			if !IsUniqueViolation(wrapped) {
				t.Errorf("wrapped violation not classified: %v", wrapped)
			}
		})
	}
}

var (
	v1 = fstest.MapFS{
		"m/0001_init.sql": {Data: []byte(`CREATE TABLE a (id {{ID}}, name TEXT {{C}} NOT NULL UNIQUE, b {{BYTES}})`)},
	}
	v2 = fstest.MapFS{
		"m/0001_init.sql":  v1["m/0001_init.sql"],
		"m/0002_index.sql": {Data: []byte(`CREATE INDEX a_b ON a (b); ALTER TABLE a ADD COLUMN note TEXT`)},
	}
)

func versions(t *testing.T, db *DB, table string) []string {
	t.Helper()
	rows, err := db.R.QueryContext(t.Context(), `SELECT version, name FROM `+table+` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v int64
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(v, ":", name))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrate(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e.name), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := e.dsn(t)
			db := open(t, dsn)
			if err := db.Migrate(ctx, v1, "m", "test_migrations", 1); err != nil {
				t.Fatal(err)
			}
			if _, err := db.W.ExecContext(ctx, db.Q(`INSERT INTO a (name, b) VALUES (?, ?)`), "kept", []byte{1}); err != nil {
				t.Fatal(err)
			}
			// A pending file is applied on top, keeping the data.
			if err := db.Migrate(ctx, v2, "m", "test_migrations", 1); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(versions(t, db, "test_migrations")); got != "[1:init 2:index]" {
				t.Fatalf("recorded migrations %s", got)
			}
			var id int64
			var b []byte
			if err := db.R.QueryRowContext(ctx, db.Q(`SELECT id, b FROM a WHERE name = ? AND note IS NULL`), "kept").Scan(&id, &b); err != nil || id != 1 || len(b) != 1 {
				t.Fatalf("row after migration: id %d, b %v, %v", id, b, err)
			}
			// Another table tracks its own files in the same database.
			other := fstest.MapFS{"o/0001_other.sql": {Data: []byte(`CREATE TABLE o (id {{ID}})`)}}
			if err := db.Migrate(ctx, other, "o", "other_migrations", 2); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(versions(t, db, "other_migrations")); got != "[1:other]" {
				t.Fatalf("other table: %s", got)
			}

			// Up to date: no lock taken, so it succeeds while another
			// process holds the lock a migration would wait for.
			release := e.locker(t, dsn, 1)
			fast, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := open(t, dsn).Migrate(fast, v2, "m", "test_migrations", 1)
			cancel()
			if err != nil {
				release()
				t.Fatalf("up-to-date Migrate waited for the lock: %v", err)
			}
			// Pending work does wait for it.
			slow, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			v3 := fstest.MapFS{"m/0003_more.sql": {Data: []byte(`CREATE TABLE more (x BIGINT)`)}}
			for k, f := range v2 {
				v3[k] = f
			}
			err = open(t, dsn, WithBusyTimeout(time.Second)).Migrate(slow, v3, "m", "test_migrations", 1)
			cancel()
			release()
			if err == nil {
				t.Fatal("a pending migration ran while another process held the lock")
			}
			if err := db.Migrate(ctx, v3, "m", "test_migrations", 1); err != nil {
				t.Fatalf("after the lock was released: %v", err)
			}

			// An older binary refuses the newer schema, fast path or not.
			for _, older := range []fstest.MapFS{v1, {"m": {Mode: fs.ModeDir}}} {
				if err := db.Migrate(ctx, older, "m", "test_migrations", 1); !errors.Is(err, ErrSchemaTooNew) {
					t.Errorf("older binary (%d files): %v, want ErrSchemaTooNew", len(older), err)
				}
			}
			if got := len(versions(t, db, "test_migrations")); got != 3 {
				t.Fatalf("%d recorded migrations after refusals, want 3", got)
			}
		})
	}
}

// A version may come as one file per engine where their SQL differs.
func TestMigrateEngineSpecific(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_init.sql":          v1["m/0001_init.sql"],
		"m/0002_view.sqlite.sql":   {Data: []byte(`CREATE VIEW engine AS SELECT 'sqlite' AS name`)},
		"m/0002_view.postgres.sql": {Data: []byte(`CREATE VIEW engine AS SELECT 'postgres'::text AS name`)},
	}
	for _, e := range engines {
		t.Run(string(e.name), func(t *testing.T) {
			t.Parallel()
			db := open(t, e.dsn(t))
			if err := db.Migrate(t.Context(), fsys, "m", "test_migrations", 3); err != nil {
				t.Fatal(err)
			}
			var name string
			if err := db.R.QueryRowContext(t.Context(), `SELECT name FROM engine`).Scan(&name); err != nil || name != string(db.Engine()) {
				t.Fatalf("view says %q, %v; want %q", name, err, db.Engine())
			}
			if got := fmt.Sprint(versions(t, db, "test_migrations")); got != "[1:init 2:view]" {
				t.Fatalf("recorded migrations %s", got)
			}
		})
	}
}

func TestMigrateBadInput(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "x.db"))
	for name, tc := range map[string]struct {
		fsys  fstest.MapFS
		table string
		want  string
	}{
		"misnamed file":   {fstest.MapFS{"m/.keep": {}}, "t_migrations", `".keep" is not named NNNN_name.sql`},
		"upper case":      {fstest.MapFS{"m/0001_Init.sql": {}}, "t_migrations", "not named"},
		"gap":             {fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, "t_migrations", "not numbered 1..n"},
		"duplicate":       {fstest.MapFS{"m/0001_a.sql": {}, "m/0001_b.sql": {}}, "t_migrations", "not numbered 1..n"},
		"missing dir":     {fstest.MapFS{}, "t_migrations", "m"},
		"bad table name":  {v1, "bad-name", "not a plain identifier"},
		"injection":       {v1, "t; DROP TABLE a", "not a plain identifier"},
		"broken sql":      {fstest.MapFS{"m/0001_a.sql": {Data: []byte(`CREATE TABLEX`)}}, "t_migrations", "apply migration 0001_a"},
		"one engine only": {fstest.MapFS{"m/0001_a.sqlite.sql": {}}, "t_migrations", "needs both"},
		"unknown engine":  {fstest.MapFS{"m/0001_a.mysql.sql": {}}, "t_migrations", "not named"},
	} {
		err := db.Migrate(ctx, tc.fsys, "m", tc.table, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
	}
	// A failed migration leaves nothing half-applied.
	var n int
	if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 't_migrations'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tracking table left behind by failed migrations: %d, %v", n, err)
	}
}

// Replicas starting together race to migrate; exactly one applies each
// file and all of them succeed.
func TestMigrateConcurrentReplicas(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e.name), func(t *testing.T) {
			t.Parallel()
			dsn := e.dsn(t)
			const n = 6
			var wg sync.WaitGroup
			errs := make([]error, n)
			dbs := make([]*DB, n)
			for i := range n {
				wg.Go(func() {
					db, err := Open(t.Context(), dsn)
					if err != nil {
						errs[i] = err
						return
					}
					dbs[i] = db
					errs[i] = db.Migrate(t.Context(), v2, "m", "test_migrations", 7)
				})
			}
			wg.Wait()
			for i := range n {
				if dbs[i] != nil {
					defer dbs[i].Close()
				}
				if errs[i] != nil {
					t.Fatalf("replica %d: %v", i, errs[i])
				}
			}
			if got := fmt.Sprint(versions(t, dbs[0], "test_migrations")); got != "[1:init 2:index]" {
				t.Fatalf("recorded migrations %s", got)
			}
			for i, db := range dbs {
				if _, err := db.W.ExecContext(t.Context(), db.Q(`INSERT INTO a (name) VALUES (?)`), fmt.Sprint(i)); err != nil {
					t.Fatalf("replica %d: %v", i, err)
				}
			}
		})
	}
}
