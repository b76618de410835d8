package testpki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"testing"
)

func TestIssueChainsToCA(t *testing.T) {
	ca := NewCA(t, "clients")
	c := ca.Issue(t, pkix.Name{CommonName: "alice", Organization: []string{"Example"}})
	if c.Leaf.Subject.String() != "CN=alice,O=Example" {
		t.Errorf("subject %s", c.Leaf.Subject)
	}
	b, err := os.ReadFile(ca.WriteFile(t))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b) {
		t.Fatal("CA file holds no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := c.Leaf.Verify(opts); err != nil {
		t.Errorf("client certificate does not chain to its CA: %v", err)
	}
	// Same name, other key: a stranger.
	other := NewCA(t, "clients").Issue(t, pkix.Name{CommonName: "alice"})
	if _, err := other.Leaf.Verify(opts); err == nil {
		t.Error("a certificate of another CA with the same name verified")
	}
}
