package auth

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
)

// Refusal is a request the Guard's Middleware refused itself, before any
// handler ran, for credentials that are wrong, expired, revoked or
// malformed. For the audit log.
type Refusal struct {
	Request  *http.Request
	Listener string
	SourceIP netip.Addr
	Err      error // wraps ErrUnauthenticated
}

// WithRefusalObserver calls fn for every request the Middleware answers
// 401 for its credentials, on the request's goroutine before the answer
// is written: fn should be quick. The anonymous GET /v2/ that clients
// send to find the token endpoint is the protocol's handshake, not a
// refusal, and is not reported. Default: none (refusals are only
// logged).
func WithRefusalObserver(fn func(context.Context, Refusal)) Option {
	return func(g *Guard) error {
		if fn == nil {
			return errors.New("nil refusal observer")
		}
		g.refusalObserver = fn
		return nil
	}
}

// reportRefusal passes a refused request to the refusal observer.
func (g *Guard) reportRefusal(r *http.Request, listener string, err error) {
	if g.refusalObserver == nil {
		return
	}
	g.refusalObserver(r.Context(), Refusal{Request: r, Listener: listener, SourceIP: requestContext(r, listener, g.now()).SourceIP, Err: err})
}
