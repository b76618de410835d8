// Package dbtest opens fresh databases on both engines for the tests of
// moat's SQL stores, so each store runs one suite on SQLite and on
// PostgreSQL (see internal/testutil/pgtest for the server it needs).
package dbtest

import (
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// Open returns a fresh, empty database on engine ("sqlite" or
// "postgres"), closed when the test ends.
func Open(tb testing.TB, engine string) *sqldb.DB {
	tb.Helper()
	dsn := filepath.Join(tb.TempDir(), "moat.db")
	if engine == "postgres" {
		dsn = pgtest.NewDatabase(tb)
	}
	db, err := sqldb.Open(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("dbtest: open %s database: %v", engine, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// ForEach runs fn as a subtest on a fresh database of each engine.
func ForEach(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	for _, e := range []string{"sqlite", "postgres"} {
		t.Run(e, func(t *testing.T) { fn(t, Open(t, e)) })
	}
}
