package keystore_test

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
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/kms"
	"github.com/moat-dev/moat/internal/sign/keystore"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
)

func ring(t *testing.T) *kms.Keyring {
	t.Helper()
	k, err := kms.Load(filepath.Join(t.TempDir(), "master.key"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestFirstUseRotateAndList(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		r := ring(t)
		s, err := keystore.New(ctx, db, r)
		if err != nil {
			t.Fatal(err)
		}
		if ks, err := s.Keys(ctx); err != nil || len(ks) != 0 {
			t.Fatalf("keys before first use: %v, %v", ks, err)
		}
		k1, err := s.Signer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leaf, ca := k1.Chain[0], k1.Chain[1]
		if len(k1.Chain) != 2 || !ca.IsCA || leaf.CheckSignatureFrom(ca) != nil || leaf.IsCA ||
			len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning || leaf.KeyUsage != x509.KeyUsageDigitalSignature {
			t.Fatalf("chain: %+v", k1.Chain)
		}
		if _, ok := k1.Signer.Public().(*ecdsa.PublicKey); !ok {
			t.Fatalf("default key is %T, want ECDSA", k1.Signer.Public())
		}
		// The same key on the next call, and for another store (a
		// replica) with the same master key.
		other, err := keystore.New(ctx, db, r)
		if err != nil {
			t.Fatal(err)
		}
		if k, err := other.Signer(ctx); err != nil || k.ID != k1.ID {
			t.Fatalf("replica's key %s, %v; want %s", k.ID, err, k1.ID)
		}

		// Rotation: a new key under the same CA; the old one is retired
		// and still listed.
		k2, err := s.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k2.ID == k1.ID || k2.Status != keystore.Active || k2.Root().Equal(ca) == false {
			t.Fatalf("rotated key %+v", k2)
		}
		ks, err := s.Keys(ctx)
		if err != nil || len(ks) != 2 || ks[0].ID != k2.ID || ks[1].ID != k1.ID || ks[1].Status != keystore.Retired || ks[1].RetiredAt.IsZero() {
			t.Fatalf("keys after rotation: %+v, %v", ks, err)
		}
		if k, err := s.Signer(ctx); err != nil || k.ID != k2.ID {
			t.Fatalf("signer after rotation %s, %v", k.ID, err)
		}

		// A store with another master key says so.
		stranger, err := keystore.New(ctx, db, ring(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stranger.Signer(ctx); !errors.Is(err, kms.ErrWrongKey) {
			t.Fatalf("another master key: %v", err)
		}
	})
}

func TestRSA(t *testing.T) {
	db := sqldbtest.Fresh(t, "sqlite")
	s, err := keystore.New(t.Context(), db, ring(t), keystore.WithAlgorithm(keystore.RSA3072))
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.Signer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := k.Signer.Public().(interface{ Size() int }); !ok || pub.Size() != 384 {
		t.Fatalf("RSA key %T", k.Signer.Public())
	}
	if _, err := keystore.New(t.Context(), db, ring(t), keystore.WithAlgorithm("dsa")); !errors.Is(err, keystore.ErrInvalid) {
		t.Fatalf("unknown algorithm: %v", err)
	}
}

// Replicas starting together make one key between them.
func TestConcurrentFirstUse(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		r := ring(t)
		ids := make([]string, 4)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				s, err := keystore.New(context.Background(), db, r)
				if err != nil {
					t.Error(err)
					return
				}
				k, err := s.Signer(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = k.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("replicas made different keys: %v", ids)
			}
		}
	})
}

func TestImport(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		s, err := keystore.New(ctx, db, ring(t))
		if err != nil {
			t.Fatal(err)
		}
		made, err := s.Signer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		root, rootKey := cert(t, nil, nil, true, nil)
		key := newKey(t)
		leaf, _ := cert(t, root, rootKey, false, key)
		k, err := s.Import(ctx, keyPEM(t, key), append(certPEM(leaf), certPEM(root)...))
		if err != nil {
			t.Fatal(err)
		}
		if !k.Imported || k.Status != keystore.Active || !k.Root().Equal(root) {
			t.Fatalf("imported %+v", k)
		}
		if got, err := s.Signer(ctx); err != nil || got.ID != k.ID {
			t.Fatalf("signer after import %s, %v", got.ID, err)
		}
		if old, err := s.Key(ctx, made.ID); err != nil || old.Status != keystore.Retired {
			t.Fatalf("the made key after import: %+v, %v", old, err)
		}

		// What Notation would refuse is refused here.
		noEKU, _ := cert(t, root, rootKey, false, key, func(c *x509.Certificate) { c.ExtKeyUsage = nil })
		otherLeaf, _ := cert(t, root, rootKey, false, newKey(t))
		strangerRoot, strangerKey := cert(t, nil, nil, true, nil)
		foreign, _ := cert(t, strangerRoot, strangerKey, false, key)
		for name, tc := range map[string]struct{ key, chain []byte }{
			"no code signing": {keyPEM(t, key), append(certPEM(noEKU), certPEM(root)...)},
			"another key's":   {keyPEM(t, key), append(certPEM(otherLeaf), certPEM(root)...)},
			"broken chain":    {keyPEM(t, key), append(certPEM(foreign), certPEM(root)...)},
			"not a key":       {certPEM(root), certPEM(leaf)},
			"no certificate":  {keyPEM(t, key), []byte("nothing")},
			"a CA as signer":  {keyPEM(t, rootKey), certPEM(root)},
		} {
			if _, err := s.Import(ctx, tc.key, tc.chain); !errors.Is(err, keystore.ErrInvalid) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if got, _ := s.Signer(ctx); got.ID != k.ID {
			t.Error("a refused import changed the active key")
		}
	})
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cert issues a certificate: a self-signed CA when parent is nil, else a
// code-signing certificate for key.
func cert(t *testing.T, parent *x509.Certificate, parentKey crypto.Signer, isCA bool, key *ecdsa.PrivateKey, edit ...func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	if key == nil {
		key = newKey(t)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true}
	if isCA {
		tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageCertSign
	} else {
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	for _, e := range edit {
		e(tmpl)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
