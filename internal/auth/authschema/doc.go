// Package authschema owns the access-control tables that the identity
// store (sqlidentity) and the policy store (policystore) share one
// database in, and the few queries that cross between them.
//
// The two stores reference each other: a policy is attached to users,
// groups and robots by name, so deleting an account must delete its
// attachments, and attaching must find the account, each in the same
// transaction as the change. Both stores therefore call [Migrate], which
// applies both migration sets (identity first: later policy migrations
// read the account tables), and use the helpers here for the other
// store's tables rather than querying them ad hoc.
//
// Tables: auth_users, auth_groups, auth_group_members, auth_robots,
// auth_tokens and auth_state (migrations tracked in
// auth_identity_migrations); auth_policies, auth_policy_targets and
// auth_policy_version (tracked in auth_policy_migrations). Each set is
// numbered on its own; a file once released is never edited, only
// followed by the next number.
//
// auth_state holds two counters. The generation rises in the same
// transaction as every identity change, whoever makes it (a server,
// another replica, the moat CLI), so processes poll one number to know
// when to drop caches of identity state. last_id hands out account and
// token ids: unlike SQLite's rowid, it never gives a deleted row's id to
// a new one, so an id names one account for good.
package authschema
