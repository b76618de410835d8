package auth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
)

// CertLoginReportInterval is how often the same client certificate with
// the same outcome is reported to the certificate login observer: every
// request of a client would flood the audit log, and token logins are
// recorded about as often (once per access token).
const CertLoginReportInterval = 5 * time.Minute

// CertLogin is one client-certificate login, for the audit log.
type CertLogin struct {
	// Subject is the account logged in ("user:alice", "robot:ci"), or the
	// one the certificate named when the login failed ("" if none).
	Subject string
	// CommonName, CertSubject, Issuer and Serial describe the verified
	// certificate.
	CommonName, CertSubject, Issuer, Serial string
	Listener                                string
	SourceIP                                netip.Addr
	// Err is nil on success; it wraps ErrUnauthenticated when the
	// certificate names no usable account.
	Err error
}

type certSeenKey struct {
	cert [sha256.Size]byte
	ok   bool
}

// verifiedClientCert returns the client certificate the TLS handshake
// verified against the listener's client CAs, or nil.
func verifiedClientCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

// CertSubject maps a client certificate's common name to the account it
// logs in: "robot+NAME" is robot NAME (the robot's login name), anything
// else the user of that name.
func CertSubject(commonName string) (string, error) {
	if commonName == "" {
		return "", fmt.Errorf("%w: client certificate has no subject common name", ErrUnauthenticated)
	}
	if name, ok := strings.CutPrefix(commonName, identity.RobotUserPrefix); ok {
		return string(policy.Robot) + ":" + name, nil
	}
	return string(policy.User) + ":" + commonName, nil
}

// identifyCert logs in the account a verified client certificate names.
func (g *Guard) identifyCert(ctx context.Context, c *Caller, cert *x509.Certificate) (*Caller, error) {
	subject, err := CertSubject(cert.Subject.CommonName)
	var p policy.Principal
	if err == nil {
		p, err = g.lookup(ctx, subject)
	}
	g.reportCertLogin(ctx, c, cert, subject, err)
	if err != nil {
		return nil, fmt.Errorf("client certificate %q: %w", cert.Subject.CommonName, err)
	}
	c.Principal = p
	return c, nil
}

func (g *Guard) reportCertLogin(ctx context.Context, c *Caller, cert *x509.Certificate, subject string, err error) {
	if g.certObserver == nil {
		return
	}
	now := g.now()
	k := certSeenKey{cert: sha256.Sum256(cert.Raw), ok: err == nil}
	g.cmu.Lock()
	until, seen := g.certSeen[k]
	if seen && now.Before(until) {
		g.cmu.Unlock()
		return
	}
	if len(g.certSeen) >= maxLookups {
		clear(g.certSeen)
	}
	g.certSeen[k] = now.Add(CertLoginReportInterval)
	g.cmu.Unlock()
	g.certObserver(ctx, CertLogin{
		Subject: subject, CommonName: cert.Subject.CommonName, CertSubject: cert.Subject.String(),
		Issuer: cert.Issuer.String(), Serial: cert.SerialNumber.Text(16),
		Listener: c.Context.Listener, SourceIP: c.Context.SourceIP, Err: err,
	})
}
