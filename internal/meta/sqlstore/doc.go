// Package sqlstore implements meta.Store on SQLite and PostgreSQL with one
// schema and one set of queries.
//
// Open picks the engine from the DSN: postgres:// or postgresql:// URLs
// select PostgreSQL (through pgx's database/sql adapter); anything else is
// a SQLite file path (modernc.org/sqlite, pure Go, so the binary needs no
// cgo). Migrations are embedded SQL files, migrations/NNNN_name.sql, applied
// in one transaction and recorded in schema_migrations; replicas that start
// together serialize on a PostgreSQL advisory lock.
//
// Engine differences are confined to dialect.go: placeholder syntax, the
// column types for ids and bytes, a byte-wise collation for names, and row
// locks (PostgreSQL SELECT ... FOR UPDATE). Times are stored as unix
// nanoseconds in BIGINT columns on both engines.
//
// SQLite runs in WAL mode with foreign keys on and synchronous=FULL, through
// one writer connection (BEGIN IMMEDIATE, so writers queue instead of
// failing with SQLITE_BUSY) beside a pool of read-only connections. Other
// processes sharing the file wait up to the busy timeout.
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
