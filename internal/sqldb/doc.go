// Package sqldb is the one database layer of moat's SQL stores (metadata,
// identities, policies, audit log). It opens SQLite or PostgreSQL the same
// way for all of them, so several stores can share one *DB, and it holds
// every difference between the two engines those stores need:
//
//   - Open picks the engine from the DSN: postgres:// or postgresql://
//     URLs select PostgreSQL through pgx's database/sql adapter; anything
//     else is the path of a SQLite file (modernc.org/sqlite, pure Go, no
//     cgo), created with its directory if missing.
//   - SQLite runs in WAL mode with foreign keys on and synchronous=FULL,
//     through one writer connection (BEGIN IMMEDIATE, so this process's
//     writers queue instead of failing with SQLITE_BUSY) beside a pool of
//     read-only connections. Other processes sharing the file wait up to
//     the busy timeout.
//   - Queries are written once with "?" placeholders; Q rewrites them to
//     $1, $2... on PostgreSQL. ForUpdate is the row-lock suffix.
//   - Write reruns a transaction PostgreSQL aborted to break a deadlock or
//     serialization conflict; Read sees one snapshot.
//   - Migrate applies numbered embedded SQL files, tracked in a table of
//     the caller's choosing, under a PostgreSQL advisory lock so replicas
//     starting together apply each file once. An up-to-date schema costs
//     one query and takes no lock.
//   - IsUniqueViolation and IsForeignKeyViolation classify constraint
//     errors of either driver.
//
// Limits: it knows only the engine differences its callers need. Queries
// must not contain a literal question mark (Q would rewrite it). SQLite
// databases are plain file paths: URIs and in-memory databases are
// refused, as they cannot be shared by the writer and reader handles.
package sqldb
