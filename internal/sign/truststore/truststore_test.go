package truststore_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/sign/truststore"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
)

func selfSigned(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

func TestStoresAndPolicies(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		regCA, regKey := selfSigned(t)
		keys := func(context.Context) ([]*x509.Certificate, []crypto.PublicKey, error) {
			return []*x509.Certificate{regCA}, []crypto.PublicKey{regKey.Public()}, nil
		}
		s, err := truststore.New(ctx, db, keys)
		if err != nil {
			t.Fatal(err)
		}
		g0, _ := s.Generation(ctx)

		// The built-ins are there and cannot be changed.
		stores, err := s.Stores(ctx)
		if err != nil || len(stores) != 2 || !stores[0].BuiltIn || stores[0].Entries != 1 || stores[1].Type != sign.StoreCosign {
			t.Fatalf("built-in stores: %+v, %v", stores, err)
		}
		if err := s.PutPolicy(ctx, "moat", []byte(truststore.BuiltInPolicy), "test"); !errors.Is(err, truststore.ErrBuiltIn) {
			t.Errorf("overwrite the built-in policy: %v", err)
		}
		if err := s.DeleteStore(ctx, sign.StoreCA, "moat"); !errors.Is(err, truststore.ErrBuiltIn) {
			t.Errorf("delete the built-in store: %v", err)
		}

		// A store of each kind, and a policy using them.
		partnerCA, partnerKey := selfSigned(t)
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: partnerCA.Raw})
		der, _ := x509.MarshalPKIXPublicKey(partnerKey.Public())
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		if err := s.PutStore(ctx, sign.StoreCA, "partner", certPEM); err != nil {
			t.Fatal(err)
		}
		if err := s.PutStore(ctx, sign.StoreCosign, "partner", keyPEM); err != nil {
			t.Fatal(err)
		}
		doc := []byte(`{"version":"1.0","trustPolicies":[{"name":"prod","registryScopes":["registry.example/prod/app"],
			"signatureVerification":{"level":"strict"},"trustStores":["ca:partner","cosign:partner","cosign:moat"],"trustedIdentities":["*"]}]}`)
		if err := s.PutPolicy(ctx, "prod", doc, "user:alice"); err != nil {
			t.Fatal(err)
		}
		if g, _ := s.Generation(ctx); g != g0+3 {
			t.Errorf("generation %d after three changes from %d", g, g0)
		}
		tr, err := s.Trust(ctx, "prod")
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Stores) != 4 || tr.Policy.TrustPolicies[0].Name != "prod" {
			t.Fatalf("trust: %+v", tr)
		}
		ps, err := s.Policies(ctx)
		if err != nil || len(ps) != 2 || ps[0].Name != "moat" || ps[1].UpdatedBy != "user:alice" {
			t.Fatalf("policies: %+v, %v", ps, err)
		}
		if _, err := s.Trust(ctx, "moat"); err != nil {
			t.Fatalf("built-in trust: %v", err)
		}

		// Bad input is refused and changes nothing.
		for name, err := range map[string]error{
			"key in a ca store":  s.PutStore(ctx, sign.StoreCA, "x", keyPEM),
			"empty store":        s.PutStore(ctx, sign.StoreCosign, "x", []byte("no pem here")),
			"unknown store type": s.PutStore(ctx, "pgp", "x", certPEM),
			"bad store name":     s.PutStore(ctx, sign.StoreCA, "../etc", certPEM),
			"not JSON":           s.PutPolicy(ctx, "p", []byte("{"), "t"),
			"unknown field":      s.PutPolicy(ctx, "p", []byte(`{"version":"1.0","trustPolicies":[],"extra":1}`), "t"),
			"no statements":      s.PutPolicy(ctx, "p", []byte(`{"version":"1.0","trustPolicies":[]}`), "t"),
			"unknown store kind": s.PutPolicy(ctx, "p", []byte(`{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["gpg:x"],"trustedIdentities":["*"]}]}`), "t"),
		} {
			if !errors.Is(err, truststore.ErrInvalid) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, err := s.Policy(ctx, "p"); !errors.Is(err, truststore.ErrNotFound) {
			t.Errorf("a refused policy was stored: %v", err)
		}
		if err := s.DeletePolicy(ctx, "prod"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteStore(ctx, sign.StoreCA, "partner"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteStore(ctx, sign.StoreCA, "partner"); !errors.Is(err, truststore.ErrNotFound) {
			t.Errorf("delete twice: %v", err)
		}
	})
}
