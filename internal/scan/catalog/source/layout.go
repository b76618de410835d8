package source

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// Media types of indexes in layouts written by docker and older tools.
const dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

// maxIndexDepth bounds nested indexes (an index pointing at an index).
const maxIndexDepth = 4

// openLayout opens the image of an OCI layout held by s.
func openLayout(s store, kind Kind, tag string, o *options) (Image, error) {
	b, err := readJSON(s, "index.json")
	if err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", kind, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", kind, err)
	}
	desc, err := pickTagged(idx.Manifests, tag)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	for depth := 0; isIndex(desc.MediaType); depth++ {
		if depth == maxIndexDepth {
			return nil, fmt.Errorf("%s: indexes nested deeper than %d", kind, maxIndexDepth)
		}
		b, err := readBlob(s, desc)
		if err != nil {
			return nil, fmt.Errorf("%s: index %s: %w", kind, desc.Digest, err)
		}
		var sub ocispec.Index
		if err := json.Unmarshal(b, &sub); err != nil {
			return nil, fmt.Errorf("%s: index %s: %w", kind, desc.Digest, err)
		}
		if desc, err = pickPlatform(sub.Manifests, o); err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
	}
	b, err = readBlob(s, desc)
	if err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %w", kind, desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %w", kind, desc.Digest, err)
	}
	cfg := m.Config
	img := &image{kind: kind, digest: desc.Digest.String(), config: func() ([]byte, error) { return readBlob(s, cfg) }}
	if c, ok := s.(io.Closer); ok {
		img.closer = c
	}
	for _, l := range m.Layers {
		name, err := blobName(l.Digest.String())
		if err != nil {
			return nil, fmt.Errorf("%s: layer: %w", kind, err)
		}
		img.layers = append(img.layers, &layer{digest: l.Digest.String(), name: name, store: s})
	}
	return img, nil
}

func isIndex(mt string) bool { return mt == ocispec.MediaTypeImageIndex || mt == dockerManifestList }

// readBlob reads a small blob and checks its digest.
func readBlob(s store, d ocispec.Descriptor) ([]byte, error) {
	name, err := blobName(d.Digest.String())
	if err != nil {
		return nil, err
	}
	b, err := readJSON(s, name)
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(b); got != d.Digest {
		return nil, fmt.Errorf("%w: blob %s hashes to %s", catalog.ErrDigestMismatch, d.Digest, got)
	}
	return b, nil
}

// pickTagged chooses the top-level descriptor: the one named tag, or the
// only one.
func pickTagged(ds []ocispec.Descriptor, tag string) (ocispec.Descriptor, error) {
	if tag == "" {
		if len(ds) == 1 {
			return ds[0], nil
		}
		if len(ds) == 0 {
			return ocispec.Descriptor{}, fmt.Errorf("%w: index lists no image", ErrNotFound)
		}
		var names []string
		for _, d := range ds {
			names = append(names, d.Annotations[ocispec.AnnotationRefName])
		}
		return ocispec.Descriptor{}, fmt.Errorf("%w: index lists %d images, name one with :TAG (%s)", ErrNotFound, len(ds), strings.Join(names, ", "))
	}
	for _, d := range ds {
		n := d.Annotations[ocispec.AnnotationRefName]
		if n == tag || strings.HasSuffix(d.Annotations["io.containerd.image.name"], ":"+tag) {
			return d, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: no image named %q", ErrNotFound, tag)
}

func pickPlatform(ds []ocispec.Descriptor, o *options) (ocispec.Descriptor, error) {
	for _, d := range ds {
		if d.Platform != nil && d.Platform.OS == o.os && d.Platform.Architecture == o.arch {
			return d, nil
		}
	}
	if len(ds) == 1 && ds[0].Platform == nil {
		return ds[0], nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: no image for %s/%s", ErrNotFound, o.os, o.arch)
}
