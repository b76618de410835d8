// Package sqlidentity stores identities (identity.Store) in SQLite or
// PostgreSQL, with the same queries on both. Its tables (auth_users,
// auth_groups, auth_group_members, auth_robots, auth_tokens) are created
// by embedded migrations tracked in auth_identity_migrations, so it can
// share a database with the metadata store without touching that store's
// schema. Times are stored as Unix nanoseconds. Open opens a database of
// its own; New shares an open sqldb.DB, which its caller closes.
package sqlidentity
