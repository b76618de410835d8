package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/netip"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
)

// LoginReportInterval is how often the same login (method, account,
// source address and outcome) is reported to the login observer. Simple
// clients send Basic credentials, and certificate clients their
// certificate, with every request: reporting each would flood the audit
// log, while token logins are recorded about once per access token.
const LoginReportInterval = 5 * time.Minute

// Login methods on /v2/ and /api/ without a token.
const (
	LoginBasic             = "basic"
	LoginClientCertificate = "client-certificate"
)

// Login is one login with Basic credentials or a client certificate,
// for the audit log.
type Login struct {
	Method string // LoginBasic or LoginClientCertificate
	// Subject is the account logged in ("user:alice", "robot:ci"), or for
	// a failed certificate login the one the certificate named ("" if
	// none).
	Subject string
	// Name is what the client presented: the Basic user name or the
	// certificate's common name.
	Name string
	// Cert describes the verified certificate of a certificate login.
	Cert     *LoginCert
	Listener string
	SourceIP netip.Addr
	// Err is nil on success; it wraps ErrUnauthenticated when the
	// credentials name no usable account, and identity.ErrThrottled when
	// the login was refused unchecked.
	Err error
}

// LoginCert is the certificate of a client-certificate login.
type LoginCert struct{ Subject, Issuer, Serial string }

type loginSeenKey struct {
	method  string
	id      [sha256.Size]byte // the certificate's or the user name's hash
	source  netip.Addr
	outcome string
}

// loginOutcome classes a login for reporting: success, failure, or
// refused unchecked.
func loginOutcome(err error) string {
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, identity.ErrThrottled):
		return "throttled"
	}
	return "failure"
}

// reportLogin passes l to the login observer unless the same login was
// reported within LoginReportInterval.
func (g *Guard) reportLogin(ctx context.Context, id [sha256.Size]byte, l Login) {
	if g.loginObserver == nil {
		return
	}
	now := g.now()
	k := loginSeenKey{method: l.Method, id: id, source: l.SourceIP, outcome: loginOutcome(l.Err)}
	g.lmu.Lock()
	if until, seen := g.loginSeen[k]; seen && now.Before(until) {
		g.lmu.Unlock()
		return
	}
	if len(g.loginSeen) >= maxLookups {
		clear(g.loginSeen)
	}
	g.loginSeen[k] = now.Add(LoginReportInterval)
	g.lmu.Unlock()
	g.loginObserver(ctx, l)
}
