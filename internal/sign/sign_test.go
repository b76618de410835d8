package sign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/sign"
)

// signer is a code-signing key under its own CA.
type signer struct {
	key sign.Key
	ca  *x509.Certificate
}

func newSigner(t *testing.T, name string) signer {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name, Organization: []string{"moat tests"}},
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	return signer{key: sign.Key{ID: name, Signer: key, Chain: []*x509.Certificate{leaf, ca}}, ca: ca}
}

func policy(t *testing.T, doc string) *trustpolicy.Document {
	t.Helper()
	var p trustpolicy.Document
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	if err := sign.ValidatePolicy(&p); err != nil {
		t.Fatal(err)
	}
	return &p
}

const strictPolicy = `{"version":"1.0","trustPolicies":[
	{"name":"prod","registryScopes":["registry.example/prod/app"],"signatureVerification":{"level":"strict"},
	 "trustStores":["ca:trusted","cosign:trusted"],"trustedIdentities":["*"]},
	{"name":"rest","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}`

var subject = sign.Subject(v1.MediaTypeImageManifest, digest.FromString("image"), 1234)

// blobs serves an artifact's blobs to ParseSignature.
func parse(t *testing.T, a *sign.Artifact) []sign.Signature {
	t.Helper()
	return sign.ParseSignature(context.Background(), a.Manifest, func(_ context.Context, d digest.Digest, max int64) ([]byte, error) {
		b, ok := a.Blobs[d]
		if !ok {
			return nil, fmt.Errorf("no blob %s", d)
		}
		return b, nil
	})
}

func TestSignAndVerify(t *testing.T) {
	ctx := context.Background()
	good, stranger := newSigner(t, "registry"), newSigner(t, "stranger")
	trust := &sign.Trust{Policy: policy(t, strictPolicy), Stores: []sign.Store{
		{Type: sign.StoreCA, Name: "trusted", Certificates: []*x509.Certificate{good.ca}},
		{Type: sign.StoreCosign, Name: "trusted", PublicKeys: []crypto.PublicKey{good.key.Signer.Public()}},
	}}
	verify := func(repo string, sigs []sign.Signature) sign.Verdict {
		t.Helper()
		v, err := trust.Verify(ctx, repo, subject, sigs)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	for _, env := range []string{sign.MediaTypeJWS, sign.MediaTypeCOSE} {
		n, err := sign.NotationSign(ctx, good.key, subject, env, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(n.Manifest, &m); err != nil || m.ArtifactType != sign.NotationArtifactType || m.Subject.Digest != subject.Digest ||
			m.Layers[0].MediaType != env || m.Annotations[sign.ThumbprintsAnnotation] == "" {
			t.Fatalf("notation manifest %s", n.Manifest)
		}
		v := verify("prod/app", parse(t, n))
		if !v.Trusted || v.Statement != "prod" || v.Results[0].Signer != good.key.Chain[0].Subject.String() {
			t.Fatalf("%s: %+v", env, v)
		}
	}
	c, err := sign.CosignSign(good.key, subject, "registry.example/prod/app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tag != "sha256-"+subject.Digest.Encoded()+".sig" {
		t.Fatalf("cosign tag %q", c.Tag)
	}
	if v := verify("prod/app", parse(t, c)); !v.Trusted || !strings.HasPrefix(v.Results[0].Signer, "SHA256:") {
		t.Fatalf("cosign: %+v", v)
	}
	// A second signature joins the first under the tag.
	var m v1.Manifest
	json.Unmarshal(c.Manifest, &m)
	c2, err := sign.CosignSign(stranger.key, subject, "registry.example/prod/app", m.Layers)
	if err != nil {
		t.Fatal(err)
	}
	if sigs := sign.ParseSignature(ctx, c2.Manifest, func(_ context.Context, d digest.Digest, _ int64) ([]byte, error) {
		if b, ok := c2.Blobs[d]; ok {
			return b, nil
		}
		return c.Blobs[d], nil
	}); len(sigs) != 2 || sigs[0].KeyID != "registry" || sigs[1].KeyID != "stranger" {
		t.Fatalf("appended cosign signatures: %+v", sigs)
	}

	// Another key: untrusted, in both formats.
	n, _ := sign.NotationSign(ctx, stranger.key, subject, sign.MediaTypeJWS, time.Now())
	other, _ := sign.CosignSign(stranger.key, subject, "registry.example/prod/app", nil)
	for name, a := range map[string]*sign.Artifact{"notation": n, "cosign": other} {
		v := verify("prod/app", parse(t, a))
		if v.Trusted || !errors.Is(v.Err(), sign.ErrUntrusted) {
			t.Errorf("%s by another key: %+v, %v", name, v, v.Err())
		}
	}

	// A signature of another image: invalid.
	elsewhere := sign.Subject(v1.MediaTypeImageManifest, digest.FromString("another image"), 99)
	n, _ = sign.NotationSign(ctx, good.key, elsewhere, sign.MediaTypeJWS, time.Now())
	other, _ = sign.CosignSign(good.key, elsewhere, "registry.example/prod/app", nil)
	for name, a := range map[string]*sign.Artifact{"notation": n, "cosign": other} {
		if v := verify("prod/app", parse(t, a)); v.Trusted || !errors.Is(v.Err(), sign.ErrInvalid) {
			t.Errorf("%s of another image: %+v, %v", name, v, v.Err())
		}
	}

	// A corrupted envelope, a corrupted cosign signature: invalid.
	n, _ = sign.NotationSign(ctx, good.key, subject, sign.MediaTypeJWS, time.Now())
	sigs := parse(t, n)
	sigs[0].Envelope = []byte(strings.Replace(string(sigs[0].Envelope), `"signature":"`, `"signature":"AAAA`, 1))
	if v := verify("prod/app", sigs); v.Trusted || !errors.Is(v.Err(), sign.ErrInvalid) {
		t.Errorf("corrupted envelope: %+v, %v", v, v.Err())
	}
	sigs = parse(t, c)
	sigs[0].Payload = []byte(strings.Replace(string(sigs[0].Payload), "registry.example", "evil.example", 1))
	if v := verify("prod/app", sigs); v.Trusted {
		t.Errorf("altered cosign payload trusted: %+v", v)
	}
	bad := *c
	bad.Manifest = []byte(strings.Replace(string(c.Manifest), sign.CosignSignatureAnnotation+`":"`, sign.CosignSignatureAnnotation+`":"!!`, 1))
	if v := verify("prod/app", parse(t, &bad)); v.Trusted || !errors.Is(v.Err(), sign.ErrInvalid) {
		t.Errorf("undecodable cosign signature: %+v, %v", v, v.Err())
	}

	// No signature; a repository under skip.
	if v := verify("prod/app", nil); v.Trusted || !errors.Is(v.Err(), sign.ErrNotSigned) {
		t.Errorf("unsigned: %+v", v)
	}
	if v := verify("dev/app", nil); !v.Trusted || v.Level != "skip" {
		t.Errorf("skip: %+v", v)
	}
}

func TestPolicies(t *testing.T) {
	bad := map[string]string{
		"unknown store type": `{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["pgp:x"],"trustedIdentities":["*"]}]}`,
		"no version":         `{"trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}`,
		"bad scope":          `{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["prod/*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}`,
		"skip with stores":   `{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"skip"},"trustStores":["ca:x"],"trustedIdentities":["*"]}]}`,
	}
	for name, doc := range bad {
		var p trustpolicy.Document
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatal(err)
		}
		if err := sign.ValidatePolicy(&p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Cosign stores alone need no trusted identities.
	p := policy(t, `{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["cosign:k"]}]}`)
	good := newSigner(t, "k")
	trust := &sign.Trust{Policy: p, Stores: []sign.Store{{Type: sign.StoreCosign, Name: "k", PublicKeys: []crypto.PublicKey{good.key.Signer.Public()}}}}
	n, _ := sign.NotationSign(context.Background(), good.key, subject, sign.MediaTypeJWS, time.Now())
	c, _ := sign.CosignSign(good.key, subject, "r/x", nil)
	v, err := trust.Verify(context.Background(), "any/repo", subject, append(parse(t, n), parse(t, c)...))
	if err != nil || !v.Trusted || v.Results[0].Err == nil || v.Results[1].Err != nil {
		t.Fatalf("cosign-only policy: %+v, %v", v, err)
	}
	// No applicable statement.
	p = policy(t, `{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["r.example/only/this"],"signatureVerification":{"level":"strict"},"trustStores":["cosign:k"]}]}`)
	if _, err := (&sign.Trust{Policy: p}).Verify(context.Background(), "other", subject, nil); !errors.Is(err, sign.ErrNoPolicy) {
		t.Fatalf("no applicable statement: %v", err)
	}
}
