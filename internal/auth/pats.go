package auth

import (
	"context"
	"errors"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
)

// Credentials cannot outgrow their grant. A personal access token is a
// long-lived password, so who may mint one is narrower than who may use
// the registry:
//
//   - a password login (Basic user:password) mints its own user's tokens;
//   - any other credential (a personal access token, a robot secret, a
//     client certificate) needs an explicit identity:ManageTokens grant,
//     and the new token never outlives the credential it was made with;
//   - minting for another user also needs admin:ManageIdentities;
//   - a registry bearer token from /auth/token never can: it carries
//     registry scopes only, whatever its scope or grant type.
//
// Listing and revoking a user's tokens needs any credential of that user
// other than a bearer token, or admin:ManageIdentities.

// Client-facing explanations of the refusals.
const (
	hintBearer   = "registry tokens cannot manage personal access tokens; log in with a password"
	hintPassword = "minting a personal access token needs a password login, or the identity:ManageTokens permission"
)

// AuthorizeTokenMint decides whether the caller in ctx may mint a
// personal access token for user. It returns nil or a *DeniedError, and
// the time the new token must expire by (zero: no bound from the
// caller's credential).
func (g *Guard) AuthorizeTokenMint(ctx context.Context, user string) (notAfter time.Time, err error) {
	c, err := g.tokenCaller(ctx, policy.ActionManageTokens, user)
	if err != nil {
		return time.Time{}, err
	}
	if identity.CredentialKind(c.Credential) == identity.CredentialPassword {
		return time.Time{}, nil
	}
	if err := g.Authorize(ctx, policy.ActionManageTokens, ""); err != nil {
		return time.Time{}, withHint(err, hintPassword)
	}
	return c.CredentialExpires, nil
}

// AuthorizeTokenAccess decides whether the caller in ctx may list and
// revoke user's personal access tokens; it returns nil or a
// *DeniedError.
func (g *Guard) AuthorizeTokenAccess(ctx context.Context, user string) error {
	_, err := g.tokenCaller(ctx, policy.ActionAdminIdentities, user)
	return err
}

// tokenCaller returns the caller if it is a logged-in account other than
// a bearer token that is user or may manage identities.
func (g *Guard) tokenCaller(ctx context.Context, action policy.Action, user string) (*Caller, error) {
	c, ok := CallerFrom(ctx)
	if !ok || c.Principal.Type == policy.Anonymous {
		// Logging in may help: the refusal challenges.
		return nil, g.Authorize(ctx, action, "")
	}
	if c.Claims != nil {
		return nil, &DeniedError{Action: action, Resource: policy.RegistryResource, hint: hintBearer,
			Decision: policy.Decision{Reason: "a registry bearer token cannot manage personal access tokens", Statement: -1}}
	}
	if c.Principal.Type == policy.User && c.Principal.Name == user {
		return c, nil
	}
	if err := g.Authorize(ctx, policy.ActionAdminIdentities, ""); err != nil {
		return nil, err
	}
	return c, nil
}

// withHint adds a client-facing explanation to a *DeniedError.
func withHint(err error, hint string) error {
	var de *DeniedError
	if errors.As(err, &de) && de.challenge == "" {
		copied := *de
		copied.hint = hint
		return &copied
	}
	return err
}
