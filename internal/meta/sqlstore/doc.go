// Package sqlstore implements meta.Store on SQLite and PostgreSQL with one
// schema and one set of queries.
//
// The database layer is internal/sqldb. New keeps the metadata in a
// *sqldb.DB the caller opened (sqldb.Open takes the DSN: postgres:// or
// postgresql:// for PostgreSQL, else a SQLite file path) and shares with
// other stores (moat serve's identity, policy and audit stores), so one
// process has one SQLite writer connection; the caller closes it.
// Migrations are embedded SQL files, migrations/NNNN_name.sql, applied by
// sqldb in one transaction and recorded in schema_migrations; replicas
// that start together serialize on a PostgreSQL advisory lock, and an
// up-to-date schema costs one query.
//
// Engine differences (placeholder syntax, column types for ids and bytes,
// a byte-wise collation for names, row locks with SELECT ... FOR UPDATE on
// PostgreSQL) are sqldb's. Times are stored as unix nanoseconds in BIGINT
// columns on both engines.
//
// Garbage collection safety rests on row locks: PutManifest locks and
// touches the blob rows it references before writing, and
// DeleteBlobIfUnreferenced locks the blob row before checking references,
// so the two serialize on the blob; a foreign key from manifest_blobs to
// blobs backs this up. The store only orders metadata: deleting the bytes
// after DeleteBlobIfUnreferenced reports true is the caller's step.
//
// Limits: the store uses the caller's clock (WithClock) for touch times, so
// replicas' clocks must agree to well within the GC grace period.
package sqlstore
