// Package sqlaudit stores the audit chain (audit.Store) in SQLite or
// PostgreSQL with the same queries on both. Tables audit_log and
// audit_head are created by embedded migrations tracked in
// audit_migrations. An append locks the single audit_head row (SELECT ...
// FOR UPDATE on PostgreSQL; on SQLite the write transaction holds the
// database's write lock), so appends from any number of connections and
// replicas form one chain. New uses an open sqldb.DB, which its caller
// closes.
package sqlaudit
