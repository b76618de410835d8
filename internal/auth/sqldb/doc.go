// Package sqldb is the SQL plumbing shared by the identity and audit
// stores: it opens a database the way the metadata store does (SQLite
// through the pure-Go driver with one writer connection and a read pool,
// or PostgreSQL through pgx), rewrites "?" placeholders for PostgreSQL,
// applies embedded migrations tracked in a table of the caller's choosing,
// and classifies constraint errors.
//
// Limits: it knows only the engine differences its callers need; queries
// are written once with "?" and must not contain a literal question mark.
package sqldb
