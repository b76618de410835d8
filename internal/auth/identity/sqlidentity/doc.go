// Package sqlidentity stores identities (identity.Store) in SQLite or
// PostgreSQL, with the same queries on both. Its tables (auth_users,
// auth_groups, auth_group_members, auth_robots, auth_tokens, auth_state)
// belong to package authschema, which migrates them together with the
// policy tables, so the store can share a database with the metadata
// store without touching that store's schema. Times are stored as Unix
// nanoseconds.
//
// Every change bumps the identity generation in its own transaction, and
// deleting a user, group or robot deletes its policy attachments in the
// same transaction, so no re-created account inherits them. Ids come
// from authschema.NextID and are never reused.
package sqlidentity
