// Package sqldbtest opens databases for tests of the stores built on
// internal/sqldb. The stores take an open *sqldb.DB (as moat serve shares
// one between them) and leave closing it to their caller; Open is that
// caller in a test.
package sqldbtest

import (
	"context"
	"testing"

	"github.com/moat-dev/moat/internal/sqldb"
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
