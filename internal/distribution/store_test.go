package distribution_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// newStore opens a fresh SQLite metadata store, the embedded default.
func newStore(t *testing.T) meta.Store {
	t.Helper()
	return openStore(t, filepath.Join(t.TempDir(), "meta.db"))
}

// newPostgresStore opens a fresh PostgreSQL database (skipped without one,
// failing under CI=true).
func newPostgresStore(t *testing.T) meta.Store {
	t.Helper()
	return openStore(t, pgtest.NewDatabase(t))
}

func openStore(t *testing.T, dsn string) meta.Store {
	t.Helper()
	s, err := sqlstore.New(context.Background(), sqldbtest.Open(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
