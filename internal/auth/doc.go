// Package auth joins identities, tokens and policies at the HTTP edge of
// the registry. A [Guard] identifies the caller of each request
// (anonymous, Basic credentials or a bearer token from /auth/token),
// keeps it in the request context, and answers the handlers' question
// "may this caller do action X on repository R?" ([Authorize]) with the
// policy engine and, for bearer tokens, the token's granted access.
//
// Denials carry what the HTTP layer needs: a 401 with a WWW-Authenticate
// challenge naming the scope to ask for (anonymous callers, or tokens
// lacking a scope the policy would grant), or a 403 DENIED for a known
// caller the policy refuses. The realm in challenges is the configured
// one, or /auth/token on the scheme and host the client used. Logins the
// identity service throttles are answered 429 with Retry-After.
// [Guard.AuthorizeTokenMint] keeps credentials from outgrowing their
// grant: personal access tokens are minted by password logins or with
// identity:ManageTokens, never by registry bearer tokens. Handlers classify them with errors.As against an interface of
// their own ({ Challenge() string }) and never import the policy engine.
//
// The engine is read through an [EngineHolder] so policy changes swap in a
// newly compiled engine without locking requests.
//
// A verified access token is remembered (by its SHA-256) until it
// expires, so a client sending the same token on every request pays for
// one signature check. Its credential and account ("moat_cred",
// "moat_aid") are revalidated on every request, the answer cached for a
// few seconds and only while the identity epoch holds, so a revoked
// credential, a disabled, deleted or re-created account ends the token at
// once here and, through the identity generation, within a second on
// other replicas. [PolicyLoader] recompiles the engine from a
// [PolicySource] when the stored policies' version changes.
// [Guard.AuthorizeMount] decides cross-repository mounts: a token lacking
// the source's pull scope that policy would grant is challenged for both
// repositories; a source policy forbids is never revealed.
//
// The listener a request arrived on (for listener policies and the token
// realm in challenges) comes from the request context when
// [WithListenerFrom] is given, so one Guard serves several listeners.
// With [WithClientCertIdentity], a TLS client certificate that the
// listener verified logs in the account its common name names
// ("alice", "robot+ci") on requests without an Authorization header;
// such logins, and Basic logins, are reported to [WithLoginObserver]
// ([LoginAudit] writes them to the audit log), once per account, source
// address and outcome every few minutes rather than on every request.
// Every request the Middleware refuses for its credentials is reported to
// [WithRefusalObserver] ([RefusalAudit] records it; the audit log
// aggregates repeats). [DeniedError] is an audit.Refusal, so registry and
// management refusals are recorded with a reason class.
//
// Limits: the source address is the TCP peer (no trusted-proxy header
// handling yet).
package auth
