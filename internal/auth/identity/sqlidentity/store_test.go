package sqlidentity

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/identitytest"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	identitytest.RunStoreTests(t, func(t *testing.T) identity.Store {
		return open(t, filepath.Join(t.TempDir(), "moat.db"))
	})
}

func TestPostgres(t *testing.T) {
	identitytest.RunStoreTests(t, func(t *testing.T) identity.Store {
		return open(t, pgtest.NewDatabase(t))
	})
}

// TestReopen: migrations run once; a second Open of the same database
// sees the data and applies nothing.
func TestReopen(t *testing.T) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "moat.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	} {
		t.Run(name, func(t *testing.T) {
			d := dsn(t)
			s := open(t, d)
			if _, err := s.CreateGroup(context.Background(), "g"); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s2 := open(t, d)
			if gs, err := s2.Groups(context.Background()); err != nil || len(gs) != 1 {
				t.Fatalf("after reopen: %v %v", gs, err)
			}
		})
	}
}
