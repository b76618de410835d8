package auth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
)

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
	var p identity.Principal
	if err == nil {
		p, err = g.lookup(ctx, subject)
	}
	g.reportLogin(ctx, sha256.Sum256(cert.Raw), Login{
		Method: LoginClientCertificate, Subject: subject, Name: cert.Subject.CommonName,
		Cert:     &LoginCert{Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), Serial: cert.SerialNumber.Text(16)},
		Listener: c.Context.Listener, SourceIP: c.Context.SourceIP, Err: err,
	})
	if err != nil {
		return nil, fmt.Errorf("client certificate %q: %w", cert.Subject.CommonName, err)
	}
	// The certificate is the credential: what it mints ends with it.
	c.Principal, c.AccountID, c.CredentialExpires = p.Principal, p.AccountID, cert.NotAfter
	return c, nil
}
