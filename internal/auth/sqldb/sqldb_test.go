package sqldb

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

func TestQ(t *testing.T) {
	pg := &DB{Engine: Postgres}
	if got := pg.Q(`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`); got != `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)` {
		t.Errorf("postgres: %s", got)
	}
	lite := &DB{Engine: SQLite}
	if got := lite.Q(`x = ?`); got != `x = ?` {
		t.Errorf("sqlite: %s", got)
	}
	if pg.ForUpdate() != " FOR UPDATE" || lite.ForUpdate() != "" {
		t.Error("ForUpdate")
	}
}

func TestMigrate(t *testing.T) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "x.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			v1 := fstest.MapFS{"m/0001_a.sql": {Data: []byte(`CREATE TABLE a (id {{ID}}, name TEXT {{C}} UNIQUE, b {{BYTES}})`)}}
			if err := db.Migrate(ctx, v1, "m", "test_migrations", 1); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, v1, "m", "test_migrations", 1); err != nil {
				t.Fatalf("second run: %v", err)
			}
			if _, err := db.W.ExecContext(ctx, db.Q(`INSERT INTO a (name, b) VALUES (?, ?)`), "x", []byte{1}); err != nil {
				t.Fatal(err)
			}
			_, err = db.W.ExecContext(ctx, db.Q(`INSERT INTO a (name, b) VALUES (?, ?)`), "x", []byte{1})
			if !IsUniqueViolation(err) {
				t.Errorf("unique violation not classified: %v", err)
			}
			empty := fstest.MapFS{"m/.keep": {}}
			if err := db.Migrate(ctx, empty, "m", "test_migrations", 1); err == nil {
				t.Error("misnamed migration file accepted")
			}
			gap := fstest.MapFS{"m/0001_a.sql": v1["m/0001_a.sql"], "m/0003_c.sql": {Data: []byte(`SELECT 1`)}}
			if err := db.Migrate(ctx, gap, "m", "test_migrations", 1); err == nil {
				t.Error("gap in migration numbers accepted")
			}
			older := fstest.MapFS{"m": {Mode: fs.ModeDir}}
			if err := db.Migrate(ctx, older, "m", "test_migrations", 1); !errors.Is(err, ErrSchemaTooNew) {
				t.Errorf("older binary: %v", err)
			}
			if err := db.Migrate(ctx, v1, "m", "bad-name", 1); err == nil {
				t.Error("bad table name accepted")
			}
		})
	}
	if _, err := Open(context.Background(), "file:x.db?mode=memory"); err == nil {
		t.Error("SQLite URI accepted")
	}
}
