package source_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/defaults"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
)

// memBlobs is one repository's blobs in memory.
type memBlobs map[digest.Digest][]byte

func (m memBlobs) OpenBlob(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	b, ok := m[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, source.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m memBlobs) put(b []byte) digest.Digest {
	d := digest.FromBytes(b)
	m[d] = b
	return d
}

// storedImage stores an image of the given layers (tars, compressed as
// compress says) and returns its manifest; edit may change the config
// and manifest before they are stored.
func storedImage(t *testing.T, blobs memBlobs, tars [][]byte, compress func([]byte) []byte, edit func(cfg map[string]any, m *ocispec.Manifest)) (digest.Digest, []byte) {
	t.Helper()
	var diffIDs []string
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest}
	m.SchemaVersion = 2
	for _, tb := range tars {
		diffIDs = append(diffIDs, digest.FromBytes(tb).String())
		blob := compress(tb)
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: blobs.put(blob), Size: int64(len(blob))})
	}
	cfg := map[string]any{"os": "linux", "architecture": "amd64", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}}
	if edit != nil {
		edit(cfg, &m)
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: blobs.put(cb), Size: int64(len(cb))}
	if edit != nil {
		edit(nil, &m) // a second chance at the config descriptor
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return digest.FromBytes(body), body
}

func TestStored(t *testing.T) {
	ctx := context.Background()
	tars := [][]byte{ct.Tar(ct.File("etc/os-release", "ID=debian\n")), ct.Tar(ct.File("a", "a"))}
	blobs := memBlobs{}
	d, body := storedImage(t, blobs, tars, ct.Gzip, nil)
	img, err := source.OpenStored(ctx, blobs, d, ocispec.MediaTypeImageManifest, body)
	if err != nil {
		t.Fatal(err)
	}
	if img.Kind() != source.Stored || img.Digest() != d.String() || len(img.Layers()) != 2 {
		t.Fatalf("image %s %s with %d layers", img.Kind(), img.Digest(), len(img.Layers()))
	}
	cfg, err := img.Config()
	if err != nil || !bytes.Contains(cfg, []byte(`"diff_ids"`)) {
		t.Fatalf("Config = %s, %v", cfg, err)
	}
	cat, err := defaults.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Catalog(ctx, img); err != nil {
		t.Fatalf("catalog of a sound image: %v", err)
	}

	// A layer that decompresses to something else than its diff_id.
	forged := memBlobs{}
	fd, fbody := storedImage(t, forged, tars, ct.Gzip, func(cfg map[string]any, _ *ocispec.Manifest) {
		if cfg != nil {
			cfg["rootfs"].(map[string]any)["diff_ids"].([]string)[1] = digest.FromString("other").String()
		}
	})
	img, err = source.OpenStored(ctx, forged, fd, ocispec.MediaTypeImageManifest, fbody)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Catalog(ctx, img); !errors.Is(err, catalog.ErrDiffID) {
		t.Fatalf("catalog of a layer not matching its diff_id = %v, want ErrDiffID", err)
	}

	for name, tc := range map[string]struct {
		mediaType string
		edit      func(map[string]any, *ocispec.Manifest)
		want      error
	}{
		"index": {ocispec.MediaTypeImageIndex, nil, source.ErrUnsupported},
		"windows": {"", func(c map[string]any, _ *ocispec.Manifest) {
			if c != nil {
				c["os"] = "windows"
			}
		}, source.ErrUnsupported},
		"artifact": {"", func(c map[string]any, m *ocispec.Manifest) {
			if c == nil {
				m.Config.MediaType = "application/vnd.example.sbom"
			}
		}, source.ErrUnsupported},
		"foreign layer": {"", func(c map[string]any, m *ocispec.Manifest) {
			if c == nil {
				m.Layers[0].URLs = []string{"https://example.com/layer"}
			}
		}, source.ErrUnsupported},
		"diff_id count": {"", func(c map[string]any, _ *ocispec.Manifest) {
			if c != nil {
				c["rootfs"] = map[string]any{"diff_ids": []string{}}
			}
		}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			bs := memBlobs{}
			d, body := storedImage(t, bs, tars, ct.Gzip, tc.edit)
			mt := tc.mediaType
			if mt == "" {
				mt = ocispec.MediaTypeImageManifest
			}
			_, err := source.OpenStored(ctx, bs, d, mt, body)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("OpenStored = %v, want %v", err, tc.want)
			}
		})
	}
	// A configuration the store lacks is an error, not a crash.
	delete(blobs, digest.Digest(mustConfig(t, body)))
	if _, err := source.OpenStored(ctx, blobs, d, ocispec.MediaTypeImageManifest, body); !errors.Is(err, source.ErrNotFound) {
		t.Fatalf("missing config = %v", err)
	}
}

func mustConfig(t *testing.T, body []byte) string {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m.Config.Digest.String()
}
