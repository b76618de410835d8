package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// Stored names images read from moat's own storage.
const Stored Kind = "stored"

// ErrUnsupported reports an image the catalog cannot read: not an image
// manifest, not a Linux image, or layers whose bytes live elsewhere.
var ErrUnsupported = errors.New("image not supported for scanning")

// Blobs reads the content of one repository of moat's own storage.
type Blobs interface {
	// OpenBlob returns a blob's bytes; the store verified them against
	// their digest when they were pushed.
	OpenBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error)
}

// Docker schema 2 media types.
const (
	dockerImageManifest = "application/vnd.docker.distribution.manifest.v2+json"
	dockerConfig        = "application/vnd.docker.container.image.v1+json"
)

// OpenStored returns the image whose manifest (mediaType, body) a push
// stored, reading its configuration and layers from blobs. Each layer is
// checked against the configuration's diff_ids as it is read (see
// catalog.DiffIDLayer). It fails with ErrUnsupported for indexes and
// artifacts, images of other operating systems than Linux, and layers
// not stored here (foreign or non-distributable ones given by URL).
func OpenStored(ctx context.Context, blobs Blobs, d digest.Digest, mediaType string, body []byte) (Image, error) {
	if mediaType != ocispec.MediaTypeImageManifest && mediaType != dockerImageManifest {
		return nil, fmt.Errorf("%w: %s is a %s, not an image manifest", ErrUnsupported, d, mediaType)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", d, err)
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != dockerConfig {
		return nil, fmt.Errorf("%w: %s is an artifact (%s), not an image", ErrUnsupported, d, m.Config.MediaType)
	}
	cfgBytes, err := readStored(ctx, blobs, m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", d, err)
	}
	var cfg struct {
		OS     string `json:"os"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return nil, fmt.Errorf("%s: config: %w", d, err)
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return nil, fmt.Errorf("%w: %s is a %s image; only Linux images are scanned", ErrUnsupported, d, cfg.OS)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("%s: config lists %d diff_ids for %d layers", d, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	img := &image{kind: Stored, digest: d.String(), config: func() ([]byte, error) { return cfgBytes, nil }}
	for i, l := range m.Layers {
		if len(l.URLs) > 0 || strings.Contains(l.MediaType, "nondistributable") || strings.Contains(l.MediaType, "foreign") {
			return nil, fmt.Errorf("%w: layer %d (%s) is distributed from elsewhere", ErrUnsupported, i, l.Digest)
		}
		img.layers = append(img.layers, &storedLayer{blobs: blobs, digest: l.Digest, diffID: cfg.RootFS.DiffIDs[i]})
	}
	return img, nil
}

func readStored(ctx context.Context, blobs Blobs, d digest.Digest) ([]byte, error) {
	rc, err := blobs.OpenBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJSON {
		return nil, fmt.Errorf("larger than %d bytes", maxJSON)
	}
	return b, nil
}

// storedLayer is one layer blob of moat's storage.
type storedLayer struct {
	blobs  Blobs
	digest digest.Digest
	diffID string
}

var _ catalog.DiffIDLayer = (*storedLayer)(nil)

func (l *storedLayer) Digest() string { return l.digest.String() }
func (l *storedLayer) DiffID() string { return l.diffID }

func (l *storedLayer) Open(ctx context.Context) (io.ReadCloser, error) {
	return l.blobs.OpenBlob(ctx, l.digest)
}
