package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
)

// Credentials is what the token endpoint needs from the identity
// service; *identity.Service is one.
type Credentials interface {
	Authenticate(ctx context.Context, username, password string) (identity.Principal, error)
	Revalidate(ctx context.Context, subject string, accountID int64, credential string) (identity.Principal, error)
}

// TokenAuthenticator adapts the identity service to token.Authenticator.
// Logins count as coming from the address RequestContext recorded.
func TokenAuthenticator(ids Credentials) token.Authenticator { return tokenAuthn{ids} }

type tokenAuthn struct{ ids Credentials }

func (a tokenAuthn) Authenticate(ctx context.Context, user, pass string) (token.Identity, error) {
	if c, ok := CallerFrom(ctx); ok {
		ctx = identity.WithSource(ctx, c.Context.SourceIP)
	}
	p, err := a.ids.Authenticate(ctx, user, pass)
	if errors.Is(err, identity.ErrUnauthenticated) {
		return token.Identity{}, fmt.Errorf("%w: %w", token.ErrUnauthorized, err)
	}
	if errors.Is(err, identity.ErrThrottled) {
		// The *identity.ThrottledError stays in the chain: its
		// RetryAfter sets the endpoint's Retry-After.
		return token.Identity{}, fmt.Errorf("%w: %w", token.ErrThrottled, err)
	}
	if err != nil {
		return token.Identity{}, err
	}
	return token.Identity{Subject: p.Subject(), Credential: p.Credential, AccountID: p.AccountID}, nil
}

func (a tokenAuthn) Revalidate(ctx context.Context, id token.Identity) error {
	_, err := a.ids.Revalidate(ctx, id.Subject, id.AccountID, id.Credential)
	if errors.Is(err, identity.ErrUnauthenticated) {
		return fmt.Errorf("%w: %w", token.ErrUnauthorized, err)
	}
	return err
}

// TokenAllow returns the token server's AllowFunc: the policy engine's
// answer for the subject (groups resolved), with the request's address,
// listener and client certificate taken from the caller that
// RequestContext put in ctx. Without one, conditions on them fail closed.
func (g *Guard) TokenAllow() token.AllowFunc {
	return func(ctx context.Context, subject string, action policy.Action, resource string) bool {
		e := g.engine.Load()
		if e == nil {
			return false
		}
		p, err := g.lookup(ctx, subject)
		if err != nil {
			return false
		}
		req := policy.Request{Principal: p.Principal, Action: action, Resource: resource}
		if c, ok := CallerFrom(ctx); ok {
			req.Context = c.Context
		} else {
			req.Context.Time = g.now()
		}
		if resource == "" {
			return e.DecideAny(req).Allowed
		}
		return e.Decide(req).Allowed
	}
}

// RequestContext records the request's address, listener (listener
// unless WithListenerFrom finds the request's) and client certificate for
// TokenAllow; wrap the token endpoint in it.
func (g *Guard) RequestContext(listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &Caller{Principal: policy.Principal{Type: policy.Anonymous}, Context: requestContext(r, g.listenerOf(r.Context(), listener), g.now())}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}
