// Package sqldbtest opens databases for tests of the stores built on
// internal/sqldb. The stores take an open *sqldb.DB (as moat serve shares
// one between them) and leave closing it to their caller; Open is that
// caller in a test.
package sqldbtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// Open opens dsn (a SQLite file path or a PostgreSQL URL, e.g. from
// pgtest.NewDatabase) and closes it when the test ends. It fails the test
// if the database cannot be opened.
func Open(tb testing.TB, dsn string, opts ...sqldb.Option) *sqldb.DB {
	tb.Helper()
	db, err := sqldb.Open(context.Background(), dsn, opts...)
	if err != nil {
		tb.Fatalf("sqldb.Open %s: %v", sqldb.Redact(dsn), err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Fresh opens a new, empty database on engine ("sqlite", or "postgres"
// through pgtest, which skips or fails without a server), closed when
// the test ends.
func Fresh(tb testing.TB, engine string) *sqldb.DB {
	tb.Helper()
	dsn := filepath.Join(tb.TempDir(), "moat.db")
	if engine == "postgres" {
		dsn = pgtest.NewDatabase(tb)
	}
	return Open(tb, dsn)
}

// ForEach runs fn as a subtest on a fresh database of each engine, so a
// store's suite runs on SQLite and PostgreSQL alike.
func ForEach(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	for _, e := range []string{"sqlite", "postgres"} {
		t.Run(e, func(t *testing.T) { fn(t, Fresh(t, e)) })
	}
}
