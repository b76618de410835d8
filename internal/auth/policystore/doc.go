// Package policystore keeps policy documents and what they are attached
// to in SQLite or PostgreSQL (tables auth_policies, auth_policy_targets,
// auth_policy_version, owned by package authschema together with the
// identity tables), and loads them as a policy.Set to compile.
//
// Documents are validated with policy.Parse before they are stored, so a
// malformed policy is refused with the parser's error and nothing
// changes. Attachments must fit the policy's kind: identity policies to
// users, groups and robots that exist (deleting an account deletes its
// attachments, see sqlidentity), resource policies to repositories,
// listener policies to listeners. Every change bumps a version number
// that replicas poll ([Store.Version]) to know when to recompile.
package policystore
