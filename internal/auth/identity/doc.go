// Package identity manages who can call the registry: users (argon2id
// password hashes in PHC format), groups and membership, robot accounts
// for CI (a secret shown once and stored hashed, optional expiry, a
// disabled flag), short-lived personal access tokens a user mints as a CLI
// password (12 hours by default, revocable), and the first-start "admin"
// user.
//
// [Service] holds the rules; persistence sits behind the narrow [Store]
// interface (identitytest has an in-memory one for unit tests and the
// conformance suite every Store passes; sqlidentity is the SQL one).
//
// Credentials on the wire:
//
//	user password      username "alice",     password the user's password
//	personal token     username "alice",     password "moat_pat_<id>_<secret>"
//	robot              username "robot+ci",  password "moat_rbt_<secret>"
//
// Robot secrets and personal tokens carry 256 random bits, so they are
// stored as SHA-256 digests (a slow hash adds nothing to a secret that
// cannot be guessed) and compared in constant time. Passwords use
// argon2id; to keep a burst of logins from exhausting memory, at most a
// bounded number of hashes run at once, and a successful check is
// remembered for a minute (keyed by an HMAC of the credentials under a
// per-process key) so Basic auth on every /v2/ request stays cheap.
// Unknown users still cost one hash, so response time does not reveal
// which names exist.
//
// Limits: no password policy beyond a minimum length, no lockout after
// failed attempts (rate limiting belongs to the HTTP edge).
package identity
