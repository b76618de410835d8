// Package token implements the Docker registry token authentication
// protocol: resource scopes ("repository:team-a/app:pull,push"), the
// WWW-Authenticate Bearer challenge, signed JWT access tokens carrying an
// "access" claim, refresh tokens, and the token endpoint's GET and OAuth2
// POST forms.
//
// The cores are HTTP-free: [ParseScopes], [BearerChallenge],
// [ParseChallenges], [Issuer] and [Server.Issue] work on plain values;
// [Server.Handler] is a thin adapter for /auth/token.
//
// Tokens are signed with ES256 and carry "kid", the key's RFC 7638 JWK
// thumbprint. Verification accepts ES256 only (so "alg":"none" and HMAC
// confusion are refused), checks the signature, expiry, not-before,
// issuer and audience (the registry's service name), and refuses a
// refresh token presented as an access token and the reverse.
//
// Granted access is the intersection of what was requested and what an
// [AllowFunc] permits, action by action; what is not granted is left out,
// never an error, as the protocol expects. Access tokens are short-lived
// (default 5 minutes). Access and refresh tokens alike carry the
// credential and account id they were issued for ("moat_cred",
// "moat_aid"), which the registry checks on every use, so revoking the
// credential ends them; tokens without them are refused. A login the
// authenticator throttles is answered 429 with Retry-After.
package token
