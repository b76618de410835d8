package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Verification errors, classified with errors.Is. A signature is invalid
// when it is broken in itself (it does not verify against its own
// certificate, it names another image, its envelope does not parse) and
// untrusted when it verifies but not from an identity the trust policy
// trusts. ErrNotSigned and ErrNoPolicy say the image could not be
// verified at all.
var (
	ErrInvalid   = errors.New("signature invalid")
	ErrUntrusted = errors.New("not signed by a trusted identity")
	ErrNotSigned = errors.New("no signature")
	ErrNoPolicy  = errors.New("no trust policy applies")
)

// StoreType is the kind of a trust store: Notation's ca,
// signingAuthority and tsa hold certificates, cosign holds public keys.
type StoreType string

// Store types.
const (
	StoreCA               StoreType = "ca"
	StoreSigningAuthority StoreType = "signingAuthority"
	StoreTSA              StoreType = "tsa"
	StoreCosign           StoreType = "cosign"
)

// ParseStoreType checks a store type name.
func ParseStoreType(s string) (StoreType, error) {
	switch t := StoreType(s); t {
	case StoreCA, StoreSigningAuthority, StoreTSA, StoreCosign:
		return t, nil
	}
	return "", fmt.Errorf("trust store type %q: want ca, signingAuthority, tsa or cosign", s)
}

// Store is a named trust store.
type Store struct {
	Type         StoreType
	Name         string
	Certificates []*x509.Certificate // ca, signingAuthority, tsa
	PublicKeys   []crypto.PublicKey  // cosign
}

// Trust is what verification trusts: a Notation trust policy document
// (trustpolicy.json, version 1.0) whose statements may also name cosign
// stores ("cosign:NAME"), and the stores it names.
type Trust struct {
	Policy *trustpolicy.Document
	Stores []Store
}

// noX509Store stands in, for Notation, for the trust stores of a statement
// that names only cosign stores: it holds nothing, so no Notation
// signature is trusted under it.
const noX509Store = "moat-no-x509-store"

// notationPolicy is p as notation-go reads it: cosign stores removed.
func notationPolicy(p *trustpolicy.Document) *trustpolicy.Document {
	out := &trustpolicy.Document{Version: p.Version}
	for _, st := range p.TrustPolicies {
		st.RegistryScopes = slices.Clone(st.RegistryScopes)
		st.TrustStores = slices.DeleteFunc(slices.Clone(st.TrustStores), func(s string) bool {
			return strings.HasPrefix(s, string(StoreCosign)+":")
		})
		st.TrustedIdentities = slices.Clone(st.TrustedIdentities)
		if lvl, err := st.SignatureVerification.GetVerificationLevel(); err == nil && lvl.Name != trustpolicy.LevelSkip.Name && len(st.TrustStores) == 0 {
			st.TrustStores = []string{string(StoreCA) + ":" + noX509Store}
			if len(st.TrustedIdentities) == 0 {
				st.TrustedIdentities = []string{"*"}
			}
		}
		out.TrustPolicies = append(out.TrustPolicies, st)
	}
	return out
}

// ValidatePolicy checks a trust policy document as Notation does, with
// cosign stores allowed besides its own kinds.
func ValidatePolicy(p *trustpolicy.Document) error {
	if p == nil {
		return errors.New("trust policy: empty document")
	}
	for _, st := range p.TrustPolicies {
		for _, s := range st.TrustStores {
			typ, name, ok := strings.Cut(s, ":")
			if !ok || name == "" {
				return fmt.Errorf("trust policy statement %q: trust store %q: want TYPE:NAME", st.Name, s)
			}
			if _, err := ParseStoreType(typ); err != nil {
				return fmt.Errorf("trust policy statement %q: %w", st.Name, err)
			}
		}
	}
	return notationPolicy(p).Validate()
}

// statement returns the statement of p that applies to repo, and the
// artifact reference under which notation-go selects the same one.
// Scopes name a registry host and a repository; the host is whatever
// clients call this registry, so only the repository is compared. An
// exact scope wins over "*".
func statement(p *trustpolicy.Document, repo string, d digest.Digest) (*trustpolicy.TrustPolicy, string) {
	var wildcard *trustpolicy.TrustPolicy
	for i, st := range p.TrustPolicies {
		for _, scope := range st.RegistryScopes {
			if scope == "*" {
				wildcard = &p.TrustPolicies[i]
				continue
			}
			if _, path, ok := strings.Cut(scope, "/"); ok && path == repo {
				return &p.TrustPolicies[i], scope + "@" + d.String()
			}
		}
	}
	// No exact scope holds this placeholder host, so notation-go picks
	// the wildcard statement too.
	return wildcard, "moat.invalid/" + repo + "@" + d.String()
}

// Signature is one signature found on an image.
type Signature struct {
	Format Format
	// Manifest is the signature artifact's manifest digest.
	Manifest digest.Digest
	// KeyID names the moat key that made it, if moat did.
	KeyID string
	// Envelope and EnvelopeType are a Notation signature's.
	Envelope     []byte
	EnvelopeType string
	// Payload and Sig are a cosign signature's.
	Payload, Sig []byte
	// Broken says why the artifact could not be read as a signature.
	Broken error
}

// Result is one signature's verification.
type Result struct {
	Signature
	// Signer is the identity: the signing certificate's subject, or the
	// SHA-256 fingerprint of the cosign key that verified it.
	Signer string
	// Err is nil when the signature verified from a trusted identity,
	// else wraps ErrInvalid or ErrUntrusted.
	Err error
}

// Verdict is an image's verification under a trust policy.
type Verdict struct {
	// Statement is the trust policy statement that applied, and Level its
	// verification level (strict, permissive, audit, skip).
	Statement, Level string
	// Trusted: a signature verified from a trusted identity, or the
	// level skips verification.
	Trusted bool
	Results []Result
}

// Err is nil for a trusted image, else the reason: ErrNotSigned, or the
// error of the signature that came closest (untrusted before invalid).
func (v Verdict) Err() error {
	if v.Trusted {
		return nil
	}
	if len(v.Results) == 0 {
		return ErrNotSigned
	}
	best := v.Results[0].Err
	for _, r := range v.Results {
		if errors.Is(r.Err, ErrUntrusted) {
			best = r.Err
			break
		}
	}
	return best
}

// Verify checks the signatures of repo's image subject against t. It
// errors (ErrNoPolicy, a bad policy) only when it cannot verify at all;
// an image without a good signature is a Verdict that is not Trusted.
func (t *Trust) Verify(ctx context.Context, repo string, subject v1.Descriptor, sigs []Signature) (Verdict, error) {
	if t.Policy == nil {
		return Verdict{}, ErrNoPolicy
	}
	st, ref := statement(t.Policy, repo, subject.Digest)
	if st == nil {
		return Verdict{}, fmt.Errorf("%w to %s", ErrNoPolicy, repo)
	}
	lvl, err := st.SignatureVerification.GetVerificationLevel()
	if err != nil {
		return Verdict{}, fmt.Errorf("trust policy statement %q: %w", st.Name, err)
	}
	v := Verdict{Statement: st.Name, Level: lvl.Name}
	if lvl.Name == trustpolicy.LevelSkip.Name {
		v.Trusted = true
		return v, nil
	}
	nv, err := verifier.New(notationPolicy(t.Policy), x509Stores(t.Stores), nil)
	if err != nil {
		return Verdict{}, fmt.Errorf("trust policy: %w", err)
	}
	var keys []crypto.PublicKey
	for _, s := range st.TrustStores {
		if name, ok := strings.CutPrefix(s, string(StoreCosign)+":"); ok {
			keys = append(keys, t.store(StoreCosign, name).PublicKeys...)
		}
	}
	for _, sig := range sigs {
		r := Result{Signature: sig}
		switch {
		case sig.Broken != nil:
			r.Err = fmt.Errorf("%w: %v", ErrInvalid, sig.Broken)
		case sig.Format == Notation:
			r.Signer, r.Err = verifyNotation(ctx, nv, subject, ref, sig)
		case sig.Format == Cosign:
			r.Signer, r.Err = verifyCosign(subject.Digest, sig, keys, lvl.Name == trustpolicy.LevelAudit.Name)
		}
		v.Trusted = v.Trusted || r.Err == nil
		v.Results = append(v.Results, r)
	}
	return v, nil
}

func (t *Trust) store(typ StoreType, name string) Store {
	for _, s := range t.Stores {
		if s.Type == typ && s.Name == name {
			return s
		}
	}
	return Store{Type: typ, Name: name}
}

// verifyNotation checks one Notation envelope with notation-go.
func verifyNotation(ctx context.Context, nv notation.Verifier, subject v1.Descriptor, ref string, sig Signature) (string, error) {
	out, err := nv.Verify(ctx, subject, sig.Envelope, notation.VerifierVerifyOptions{ArtifactReference: ref, SignatureMediaType: sig.EnvelopeType})
	signer := ""
	if out != nil && out.EnvelopeContent != nil && len(out.EnvelopeContent.SignerInfo.CertificateChain) > 0 {
		signer = out.EnvelopeContent.SignerInfo.CertificateChain[0].Subject.String()
	}
	if err == nil {
		return signer, nil
	}
	if out != nil {
		for _, r := range out.VerificationResults {
			if r.Error != nil && r.Type == trustpolicy.TypeIntegrity {
				return signer, fmt.Errorf("%w: %v", ErrInvalid, r.Error)
			}
		}
		if out.Error != nil && strings.Contains(out.Error.Error(), "content descriptor mismatch") {
			return signer, fmt.Errorf("%w: it signs another image", ErrInvalid)
		}
		if out.EnvelopeContent == nil {
			return signer, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return signer, fmt.Errorf("%w: %v", ErrUntrusted, err)
}

// verifyCosign checks a cosign signature: its payload must name digest,
// and the signature verify with one of keys. Under audit any signature
// naming the image is enough.
func verifyCosign(d digest.Digest, sig Signature, keys []crypto.PublicKey, audit bool) (string, error) {
	var p simpleSigning
	if err := json.Unmarshal(sig.Payload, &p); err != nil || p.Critical.Type != simpleSigningType {
		return "", fmt.Errorf("%w: not a cosign simple-signing payload", ErrInvalid)
	}
	if p.Critical.Image.DockerManifestDigest != d.String() {
		return "", fmt.Errorf("%w: it signs another image (%s)", ErrInvalid, p.Critical.Image.DockerManifestDigest)
	}
	if len(sig.Sig) == 0 {
		return "", fmt.Errorf("%w: no signature on the payload", ErrInvalid)
	}
	for _, k := range keys {
		if verifyPayload(k, sig.Payload, sig.Sig) {
			return KeyFingerprint(k), nil
		}
	}
	if audit {
		return "", nil
	}
	return "", fmt.Errorf("%w: the signature verifies with none of the trusted keys", ErrUntrusted)
}

func verifyPayload(k crypto.PublicKey, payload, sig []byte) bool {
	sum := sha256.Sum256(payload)
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, sum[:], sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(k, payload, sig)
	}
	return false
}

// KeyFingerprint names a public key: "SHA256:" and the hex SHA-256 of its
// PKIX encoding.
func KeyFingerprint(k crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return fmt.Sprintf("SHA256:%x", sum)
}

// x509Stores serves the certificate stores to notation-go.
type x509Stores []Store

func (s x509Stores) GetCertificates(_ context.Context, typ truststore.Type, name string) ([]*x509.Certificate, error) {
	for _, st := range s {
		if string(st.Type) == string(typ) && st.Name == name && len(st.Certificates) > 0 {
			return st.Certificates, nil
		}
	}
	return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("trust store %s:%s holds no certificates", typ, name)}
}

// ParseSignature reads a signature artifact's manifest (fetching its
// blobs with blob) into its signatures: one for a Notation artifact, one
// per payload layer for cosign. What cannot be read comes back Broken.
func ParseSignature(ctx context.Context, manifest []byte, blob func(ctx context.Context, d digest.Digest, max int64) ([]byte, error)) []Signature {
	md := digest.FromBytes(manifest)
	var m v1.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return []Signature{{Manifest: md, Broken: fmt.Errorf("manifest: %v", err)}}
	}
	switch {
	case m.ArtifactType == NotationArtifactType || m.Config.MediaType == NotationArtifactType:
		sig := Signature{Format: Notation, Manifest: md, KeyID: m.Annotations[KeyAnnotation]}
		if len(m.Layers) != 1 || (m.Layers[0].MediaType != MediaTypeJWS && m.Layers[0].MediaType != MediaTypeCOSE) {
			sig.Broken = errors.New("a Notation signature has one envelope layer")
			return []Signature{sig}
		}
		sig.EnvelopeType = m.Layers[0].MediaType
		sig.Envelope, sig.Broken = blob(ctx, m.Layers[0].Digest, maxEnvelope)
		return []Signature{sig}
	default:
		var out []Signature
		for _, l := range m.Layers {
			if l.MediaType != CosignPayloadType {
				continue
			}
			sig := Signature{Format: Cosign, Manifest: md, KeyID: l.Annotations[KeyAnnotation]}
			var err error
			if sig.Sig, err = base64.StdEncoding.DecodeString(l.Annotations[CosignSignatureAnnotation]); err != nil {
				sig.Broken = fmt.Errorf("signature annotation: %v", err)
			} else {
				sig.Payload, sig.Broken = blob(ctx, l.Digest, maxPayload)
			}
			out = append(out, sig)
		}
		if len(out) == 0 {
			return []Signature{{Format: Cosign, Manifest: md, Broken: errors.New("a cosign signature without a payload layer")}}
		}
		return out
	}
}

// Size bounds of what is read to verify.
const (
	maxEnvelope = 4 << 20
	maxPayload  = 1 << 20
)

// IsSignature reports whether a referrer's artifact type is a signature.
func IsSignature(artifactType string) bool {
	return artifactType == NotationArtifactType || artifactType == CosignArtifactType
}

// cosignLayerTypes are the layer media types of what cosign stores as
// image manifests: signatures, attestations (DSSE envelopes) and
// attached SBOMs.
var cosignLayerTypes = []string{CosignPayloadType, "application/vnd.dsse.envelope.v1+json",
	"application/vnd.in-toto+json", "text/spdx", "text/spdx+json", "application/vnd.cyclonedx+json", "application/vnd.syft+json"}

// IsCosignArtifact reports whether an image manifest is one of cosign's
// artifacts rather than an image: its layers hold signatures,
// attestations or SBOMs.
func IsCosignArtifact(manifest []byte) bool {
	var m struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
		} `json:"layers"`
	}
	if json.Unmarshal(manifest, &m) != nil || len(m.Layers) == 0 {
		return false
	}
	for _, l := range m.Layers {
		if !slices.Contains(cosignLayerTypes, l.MediaType) {
			return false
		}
	}
	return true
}
