package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/reference"
)

// MaxSize is the largest manifest Parse accepts, in bytes. Callers cap
// request bodies at this size before reading them.
const MaxSize = 4 << 20

// Docker media types; the OCI ones are in image-spec's v1 package.
const (
	MediaTypeDockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	MediaTypeDockerForeignLayer  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// Sentinel errors; every error Parse returns wraps exactly one of them.
// Errors about a descriptor's digest also wrap reference.ErrInvalidDigest.
var (
	// ErrInvalid: the body is not valid JSON, lacks a required field, has a
	// malformed field, or contradicts its Content-Type.
	ErrInvalid = errors.New("manifest: invalid")
	// ErrUnsupported: a well-formed manifest of a kind moat does not
	// store, e.g. Docker schema 1 or an unknown media type.
	ErrUnsupported = errors.New("manifest: unsupported")
	// ErrTooLarge: the body exceeds MaxSize.
	ErrTooLarge = errors.New("manifest: too large")
)

// Parsed is what the registry needs to know about a valid manifest.
type Parsed struct {
	// MediaType is one of the four supported manifest media types.
	MediaType string
	// ArtifactType is the manifest's artifactType; for an image manifest
	// without one, the config's media type, as the distribution spec's
	// referrers rules prescribe. Empty for an index without one.
	ArtifactType string
	// Subject is the digest of the manifest this one refers to, or empty.
	Subject digest.Digest
	// Config is the config descriptor of an image manifest; nil for indexes.
	Config *v1.Descriptor
	// Layers are an image manifest's layer descriptors, in order.
	Layers []v1.Descriptor
	// Manifests are an index's child descriptors, in order.
	Manifests []v1.Descriptor
	// Annotations are the manifest's top-level annotations.
	Annotations map[string]string
	// Blobs are the distinct digests that must exist in the repository: the
	// config and the distributable layers. Layers that are non-distributable
	// or carry urls are fetched from elsewhere and excluded.
	Blobs []digest.Digest
	// External are the distinct digests of layers that need not be pushed
	// (non-distributable, foreign, or with urls) and are not in Blobs. A
	// client may upload them all the same; the registry must then keep
	// them as long as the manifest does.
	External []digest.Digest
	// Children are the distinct digests of an index's child manifests.
	Children []digest.Digest
}

// IsIndex reports whether the manifest is an OCI index or Docker manifest list.
func (p *Parsed) IsIndex() bool { return isIndex(p.MediaType) }

func isIndex(mt string) bool {
	return mt == v1.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// supported reports whether mt is a manifest media type Parse accepts.
func supported(mt string) bool {
	switch mt {
	case v1.MediaTypeImageManifest, v1.MediaTypeImageIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		return true
	}
	return false
}

func isSchema1(mt string) bool {
	return mt == MediaTypeDockerSchema1 || mt == MediaTypeDockerSchema1Signed
}

// generic lists Content-Types that say nothing about the manifest kind;
// the body's mediaType decides then.
func generic(ct string) bool {
	switch ct {
	case "", "application/json", "application/octet-stream", "text/plain", "*/*":
		return true
	}
	return false
}

// document is the union of the manifest and index shapes. Pointers tell an
// absent field from an empty one where that matters.
type document struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
	// Schema 1 only; present means the body is schema 1 whatever it claims.
	FSLayers   json.RawMessage `json:"fsLayers"`
	Signatures json.RawMessage `json:"signatures"`
}

// Parse validates body, pushed with the given Content-Type header value,
// and returns what it references. A missing or generic Content-Type
// (application/json, application/octet-stream) defers to the body's
// mediaType field; when both are present they must agree.
func Parse(contentType string, body []byte) (*Parsed, error) {
	if len(body) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit is %d", ErrTooLarge, len(body), MaxSize)
	}
	ct, err := normalizeContentType(contentType)
	if err != nil {
		return nil, err
	}
	if isSchema1(ct) {
		return nil, errSchema1()
	}
	if !generic(ct) && !supported(ct) {
		return nil, fmt.Errorf("%w: media type %q is not a manifest type moat stores", ErrUnsupported, truncate(ct))
	}
	var doc document
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := checkKeys(body); err != nil {
		return nil, err
	}
	bodyMT := doc.MediaType
	if isSchema1(bodyMT) || doc.FSLayers != nil || doc.Signatures != nil ||
		(doc.SchemaVersion != nil && *doc.SchemaVersion == 1) {
		return nil, errSchema1()
	}
	mt, err := resolveMediaType(ct, bodyMT, &doc)
	if err != nil {
		return nil, err
	}
	if doc.SchemaVersion == nil {
		return nil, fmt.Errorf("%w: schemaVersion is missing", ErrInvalid)
	}
	if *doc.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion is %d, want 2", ErrInvalid, *doc.SchemaVersion)
	}
	if doc.ArtifactType != "" {
		if err := validMediaType(doc.ArtifactType); err != nil {
			return nil, fmt.Errorf("%w: artifactType: %v", ErrInvalid, err)
		}
	}
	p := &Parsed{MediaType: mt, ArtifactType: doc.ArtifactType, Annotations: doc.Annotations}
	if doc.Subject != nil {
		if err := validDescriptor("subject", doc.Subject); err != nil {
			return nil, err
		}
		p.Subject = doc.Subject.Digest
	}
	if isIndex(mt) {
		err = parseIndex(p, &doc)
	} else {
		err = parseImage(p, &doc)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

func errSchema1() error {
	return fmt.Errorf("%w: Docker schema 1 manifests are deprecated and not accepted; push schema 2 or OCI", ErrUnsupported)
}

// normalizeContentType drops parameters and lowercases the media type.
func normalizeContentType(contentType string) (string, error) {
	if strings.TrimSpace(contentType) == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("%w: Content-Type %q: %v", ErrInvalid, truncate(contentType), err)
	}
	return mt, nil
}

// resolveMediaType decides the manifest kind from the Content-Type and the
// body's mediaType field, or, when both are silent, from the body's shape.
func resolveMediaType(ct, bodyMT string, doc *document) (string, error) {
	switch {
	case !generic(ct) && bodyMT != "" && bodyMT != ct:
		return "", fmt.Errorf("%w: mediaType %q in the body disagrees with Content-Type %q", ErrInvalid, truncate(bodyMT), ct)
	case !generic(ct):
		return ct, nil
	case bodyMT != "" && !supported(bodyMT):
		return "", fmt.Errorf("%w: media type %q is not a manifest type moat stores", ErrUnsupported, truncate(bodyMT))
	case bodyMT != "":
		return bodyMT, nil
	case doc.Manifests != nil && doc.Config == nil:
		return v1.MediaTypeImageIndex, nil
	case doc.Config != nil && doc.Manifests == nil:
		return v1.MediaTypeImageManifest, nil
	}
	return "", fmt.Errorf("%w: no media type in Content-Type or body, and the body is neither a manifest nor an index", ErrInvalid)
}

func parseIndex(p *Parsed, doc *document) error {
	// Fields of the other shape would let clients disagree about what
	// this document is; refuse them.
	if doc.Config != nil || len(doc.Layers) > 0 {
		return fmt.Errorf("%w: an index must not have config or layers", ErrInvalid)
	}
	p.Manifests = doc.Manifests
	seen := make(map[digest.Digest]bool, len(doc.Manifests))
	for i := range doc.Manifests {
		d := &doc.Manifests[i]
		if err := validDescriptor(fmt.Sprintf("manifests[%d]", i), d); err != nil {
			return err
		}
		if !seen[d.Digest] {
			seen[d.Digest] = true
			p.Children = append(p.Children, d.Digest)
		}
	}
	return nil
}

func parseImage(p *Parsed, doc *document) error {
	if doc.Manifests != nil {
		return fmt.Errorf("%w: an image manifest must not have manifests", ErrInvalid)
	}
	if doc.Config == nil {
		return fmt.Errorf("%w: config is missing", ErrInvalid)
	}
	if err := validDescriptor("config", doc.Config); err != nil {
		return err
	}
	p.Config = doc.Config
	p.Layers = doc.Layers
	if p.ArtifactType == "" {
		p.ArtifactType = doc.Config.MediaType
	}
	seen := make(map[digest.Digest]bool, len(doc.Layers)+1)
	seen[doc.Config.Digest] = true
	p.Blobs = append(p.Blobs, doc.Config.Digest)
	var external []digest.Digest
	for i := range doc.Layers {
		l := &doc.Layers[i]
		if err := validDescriptor(fmt.Sprintf("layers[%d]", i), l); err != nil {
			return err
		}
		if !distributable(l) {
			external = append(external, l.Digest)
		} else if !seen[l.Digest] {
			seen[l.Digest] = true
			p.Blobs = append(p.Blobs, l.Digest)
		}
	}
	// A digest listed both ways must be pushed; it is a Blob only.
	for _, d := range external {
		if !seen[d] {
			seen[d] = true
			p.External = append(p.External, d)
		}
	}
	return nil
}

// distributable reports whether a layer must be pushed to the registry.
// Non-distributable and foreign layers, and any layer with urls, are
// fetched from their urls and never uploaded.
func distributable(l *v1.Descriptor) bool {
	return len(l.URLs) == 0 &&
		l.MediaType != MediaTypeDockerForeignLayer &&
		!strings.Contains(l.MediaType, ".nondistributable.")
}

// validDescriptor checks the fields every descriptor must get right.
func validDescriptor(path string, d *v1.Descriptor) error {
	if d.MediaType == "" {
		return fmt.Errorf("%w: %s.mediaType is missing", ErrInvalid, path)
	}
	if err := validMediaType(d.MediaType); err != nil {
		return fmt.Errorf("%w: %s.mediaType: %v", ErrInvalid, path, err)
	}
	if d.Digest == "" {
		return fmt.Errorf("%w: %s.digest is missing", ErrInvalid, path)
	}
	if err := reference.ValidDigest(d.Digest); err != nil {
		return fmt.Errorf("%w: %s.digest: %w", ErrInvalid, path, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: %s.size is negative (%d)", ErrInvalid, path, d.Size)
	}
	if d.ArtifactType != "" {
		if err := validMediaType(d.ArtifactType); err != nil {
			return fmt.Errorf("%w: %s.artifactType: %v", ErrInvalid, path, err)
		}
	}
	for i, u := range d.URLs {
		parsed, err := url.Parse(u)
		if err != nil || !parsed.IsAbs() || parsed.Host == "" {
			return fmt.Errorf("%w: %s.urls[%d] %q is not an absolute URL", ErrInvalid, path, i, truncate(u))
		}
	}
	if len(d.Data) > 0 {
		// Embedded data must be the content itself, or clients reading
		// the data and clients fetching the blob would see different things.
		if int64(len(d.Data)) != d.Size {
			return fmt.Errorf("%w: %s.data holds %d bytes, size says %d", ErrInvalid, path, len(d.Data), d.Size)
		}
		if d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return fmt.Errorf("%w: %s.data does not match its digest", ErrInvalid, path)
		}
	}
	if pl := d.Platform; pl != nil && (pl.OS == "" || pl.Architecture == "") {
		return fmt.Errorf("%w: %s.platform needs os and architecture", ErrInvalid, path)
	}
	return nil
}

// validMediaType checks RFC 6838 section 4.2 names: type "/" subtype, each
// 1-127 characters, starting with a letter or digit. Parameters are not
// allowed in manifest fields.
func validMediaType(mt string) error {
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !restrictedName(typ) || !restrictedName(sub) {
		return fmt.Errorf("%q is not a media type", truncate(mt))
	}
	return nil
}

func restrictedName(s string) bool {
	if len(s) == 0 || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
		if i == 0 && !alnum {
			return false
		}
		if !alnum && !strings.ContainsRune("!#$&-^_.+", rune(c)) {
			return false
		}
	}
	return true
}

// truncate keeps hostile input from bloating error messages and logs.
func truncate(s string) string {
	const limit = 128
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
