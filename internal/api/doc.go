// Package api serves moat's management REST API under /api/v1: users,
// groups and memberships, robot accounts, personal access tokens,
// policies and their attachments, a policy simulator, the audit log
// (filtered, paginated queries, JSON lines export, chain verification),
// and, when Config.Webhooks is set, webhooks: list, create, read, update
// (PUT changes the fields the body names; the secret can be replaced,
// never read), delete, their delivery log (newest first, by outcome,
// paged with before) and a test ping.
//
// Every endpoint needs an authenticated caller the policy engine allows
// the matching admin action on the "registry" resource:
// admin:ManageIdentities for users, groups, robots and other users'
// tokens, admin:ManagePolicies for policies and simulation,
// admin:ReadAudit for the audit log; webhooks:Read to list webhooks and
// their deliveries, webhooks:Write to change or ping them. A user may
// always list, mint and revoke their own access tokens. The caller comes from the request
// context, put there by the auth middleware the server wraps this
// handler in; bearer tokens from /auth/token carry registry scopes only,
// so clients send Basic credentials (a password or an access token).
//
// Handlers decode the request, call the identity service, the policy
// store or the audit log, record identity and policy changes in the audit
// log, and encode the answer. Errors are JSON objects
// {"error":{"code":..., "message":...}} with the HTTP status of their
// kind: 400 invalid, 401 unauthenticated, 403 denied, 404 not found,
// 409 already exists (or, code CONFLICT, a webhook the configuration file
// manages). Secrets (robot secrets, access tokens) appear only in the
// response that creates them; webhook secrets in none.
//
// Limits: no rate limiting, no pagination of users, groups, robots or
// policies (they are few); the audit log pages by sequence number.
package api
