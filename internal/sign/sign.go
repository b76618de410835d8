// Package sign makes and checks image signatures in the two formats
// clients verify: Notation (a JWS or COSE envelope over the image's
// descriptor, signed by a key with an X.509 chain) and cosign (a sigstore
// simple-signing payload naming the image digest, signed by a key). Both
// are stored as OCI 1.1 referrers of the image; the cosign one is also
// tagged sha256-<hex>.sig, where cosign looks by default.
//
// It only builds and parses artifacts and checks them against trust
// material (Trust): where keys, trust stores and policies are kept, and
// how artifacts reach a registry, is the caller's business.
package sign

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media and artifact types of the two formats.
const (
	// NotationArtifactType marks a Notation signature manifest.
	NotationArtifactType = "application/vnd.cncf.notary.signature"
	// MediaTypeJWS and MediaTypeCOSE are Notation envelope layers.
	MediaTypeJWS  = "application/jose+json"
	MediaTypeCOSE = "application/cose"
	// ThumbprintsAnnotation lists the SHA-256 thumbprints of a Notation
	// signature's certificate chain, as a JSON array of hex strings.
	ThumbprintsAnnotation = "io.cncf.notary.x509chain.thumbprint#S256"

	// CosignArtifactType marks a cosign signature manifest found through
	// the referrers API (cosign's OCI 1.1 mode).
	CosignArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// CosignPayloadType is a simple-signing payload layer.
	CosignPayloadType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// CosignSignatureAnnotation holds a payload layer's signature, base64.
	CosignSignatureAnnotation = "dev.cosignproject.cosign/signature"

	// KeyAnnotation names the moat key that made a signature, so a signer
	// can tell its own signatures apart.
	KeyAnnotation = "dev.moat.signing.key"

	emptyJSON      = "{}"
	mediaTypeEmpty = "application/vnd.oci.empty.v1+json"
)

// Format is a signature format.
type Format string

// Formats.
const (
	Notation Format = "notation"
	Cosign   Format = "cosign"
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Notation, Cosign:
		return f, nil
	}
	return "", fmt.Errorf("signature format %q: want %s or %s", s, Notation, Cosign)
}

// Key signs: a private key with its certificate chain (leaf first, up to
// the root), and an id that names it.
type Key struct {
	ID     string
	Signer crypto.Signer
	Chain  []*x509.Certificate
}

// Artifact is a signature ready to push: its manifest (OCI image manifest,
// with the image as subject), the blobs it names, and for cosign the tag
// cosign looks up.
type Artifact struct {
	Format   Format
	Manifest []byte
	Blobs    map[digest.Digest][]byte
	Tag      string
}

// Digest is the digest of the artifact's manifest.
func (a *Artifact) Digest() digest.Digest { return digest.FromBytes(a.Manifest) }

// Subject is the descriptor a signature names: media type, digest and
// size of the image manifest (or index), nothing else.
func Subject(mediaType string, d digest.Digest, size int64) v1.Descriptor {
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: size}
}

// NotationSign signs subject with key as a Notation signature in an
// envelope of mediaType (MediaTypeJWS or MediaTypeCOSE).
func NotationSign(ctx context.Context, key Key, subject v1.Descriptor, envelope string, now time.Time) (*Artifact, error) {
	if envelope != MediaTypeJWS && envelope != MediaTypeCOSE {
		return nil, fmt.Errorf("sign: envelope %q: want %s or %s", envelope, MediaTypeJWS, MediaTypeCOSE)
	}
	s, err := signer.NewGenericSigner(key.Signer, key.Chain)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	env, _, err := s.Sign(ctx, subject, notation.SignerSignOptions{SignatureMediaType: envelope, SigningAgent: "moat"})
	if err != nil {
		return nil, fmt.Errorf("sign: notation: %w", err)
	}
	thumbs := make([]string, len(key.Chain))
	for i, c := range key.Chain {
		sum := sha256.Sum256(c.Raw)
		thumbs[i] = hex.EncodeToString(sum[:])
	}
	tb, _ := json.Marshal(thumbs)
	layer := v1.Descriptor{MediaType: envelope, Digest: digest.FromBytes(env), Size: int64(len(env))}
	m := v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: NotationArtifactType,
		Config:       v1.Descriptor{MediaType: mediaTypeEmpty, Digest: digest.FromString(emptyJSON), Size: int64(len(emptyJSON))},
		Layers:       []v1.Descriptor{layer},
		Subject:      &subject,
		Annotations: map[string]string{
			ThumbprintsAnnotation: string(tb),
			v1.AnnotationCreated:  now.UTC().Format(time.RFC3339),
			KeyAnnotation:         key.ID,
		},
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &Artifact{Format: Notation, Manifest: b, Blobs: map[digest.Digest][]byte{
		m.Config.Digest: []byte(emptyJSON), layer.Digest: env}}, nil
}

// simpleSigning is cosign's payload: "this digest, signed".
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

const simpleSigningType = "cosign container image signature"

// CosignTag is the tag cosign looks up for d's signatures.
func CosignTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// CosignSign signs subject with key as a cosign signature naming
// reference (the image's repository as clients name it). Signatures
// already under the tag (prior, its layers) are kept: cosign adds a layer
// per signature.
func CosignSign(key Key, subject v1.Descriptor, reference string, prior []v1.Descriptor) (*Artifact, error) {
	var p simpleSigning
	p.Critical.Identity.DockerReference = reference
	p.Critical.Image.DockerManifestDigest = subject.Digest.String()
	p.Critical.Type = simpleSigningType
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	sig, err := signPayload(key.Signer, payload)
	if err != nil {
		return nil, fmt.Errorf("sign: cosign: %w", err)
	}
	layer := v1.Descriptor{MediaType: CosignPayloadType, Digest: digest.FromBytes(payload), Size: int64(len(payload)),
		Annotations: map[string]string{CosignSignatureAnnotation: base64.StdEncoding.EncodeToString(sig), KeyAnnotation: key.ID}}
	layers := append(append([]v1.Descriptor(nil), prior...), layer)
	// The config is the image configuration cosign writes: one rootfs
	// entry per (uncompressed) payload layer.
	diffIDs := make([]digest.Digest, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.Digest
	}
	cfg, err := json.Marshal(v1.Image{RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs}})
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: CosignArtifactType,
		Config:       v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:       layers,
		Subject:      &subject,
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &Artifact{Format: Cosign, Manifest: b, Tag: CosignTag(subject.Digest),
		Blobs: map[digest.Digest][]byte{m.Config.Digest: cfg, layer.Digest: payload}}, nil
}

// signPayload signs sha256(payload) as cosign does: ECDSA in ASN.1 DER or
// RSA PKCS#1 v1.5; Ed25519 signs the payload itself.
func signPayload(s crypto.Signer, payload []byte) ([]byte, error) {
	if _, ok := s.Public().(ed25519.PublicKey); ok {
		return s.Sign(rand.Reader, payload, crypto.Hash(0))
	}
	sum := sha256.Sum256(payload)
	return s.Sign(rand.Reader, sum[:], crypto.SHA256)
}

// IsCosignTag reports whether tag is one cosign keeps its artifacts of an
// image under: sha256-<hex>.sig, .att or .sbom.
func IsCosignTag(tag string) bool {
	_, ok := CosignTagSubject(tag)
	return ok
}

// CosignTagSubject returns the image a cosign tag (sha256-<hex>.sig, .att
// or .sbom) is about.
func CosignTagSubject(tag string) (digest.Digest, bool) {
	alg, rest, ok := strings.Cut(tag, "-")
	if !ok || alg != "sha256" || len(rest) < 64+4 {
		return "", false
	}
	switch rest[64:] {
	case ".sig", ".att", ".sbom":
		d := digest.Digest("sha256:" + rest[:64])
		return d, d.Validate() == nil
	}
	return "", false
}
