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
// argon2id on a bounded pool of workers shared fairly between source
// addresses (see [LoginLimits]); identical checks in flight run once, and
// a successful check is remembered for a minute (keyed by an HMAC of the
// credentials under a per-process key) so Basic auth on every /v2/
// request stays cheap. Unknown users still cost one hash, so response
// time does not reveal which names exist.
//
// Failed logins slow down: per account and source address, and more
// loosely per account and per source, a login held back is refused
// before any hashing with a *ThrottledError. The address comes from the
// context ([WithSource]).
//
// Every credential a login produces names the account's immutable id
// and a fingerprint of the secret's stored hash ([Principal.Credential]);
// [Service.Revalidate] checks both, so tokens issued for a credential
// end with it. Caches of identity state (the password cache here, the
// guard's lookups) keep the [Service.Epoch] they were filled at; every
// change through the Service moves it, and [Service.Refresh] moves it
// when the store's generation shows a change made by another process.
//
// Limits: no password policy beyond a minimum length; login counters are
// per process (n replicas allow n times the attempts).
package identity
