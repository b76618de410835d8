package sqlidentity

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/identitytest"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// engines makes a fresh database DSN on each engine.
var engines = map[string]func(t *testing.T) string{
	"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "moat.db") },
	"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
}

func openDB(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := New(context.Background(), openDB(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQLite(t *testing.T) {
	identitytest.RunStoreTests(t, func(t *testing.T) identity.Store {
		return open(t, engines["sqlite"](t))
	})
}

func TestPostgres(t *testing.T) {
	identitytest.RunStoreTests(t, func(t *testing.T) identity.Store {
		return open(t, engines["postgres"](t))
	})
}

// TestReopen: migrations run once; a second New on the same database
// sees the data and applies nothing.
func TestReopen(t *testing.T) {
	for name, dsn := range engines {
		t.Run(name, func(t *testing.T) {
			d := dsn(t)
			db := openDB(t, d)
			s, err := New(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateGroup(context.Background(), "g"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s2 := open(t, d)
			if gs, err := s2.Groups(context.Background()); err != nil || len(gs) != 1 {
				t.Fatalf("after reopen: %v %v", gs, err)
			}
		})
	}
}
