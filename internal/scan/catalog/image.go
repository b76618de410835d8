package catalog

import (
	"context"
	"io"
	"io/fs"
)

// Image is what the catalog reads: an ordered list of layers. Sources
// (internal/scan/catalog/source) implement it for image layouts, archives,
// registries and plain directories.
type Image interface {
	// Digest is the manifest digest, empty when there is none (a directory
	// or a docker-archive).
	Digest() string
	// Layers are bottom first.
	Layers() []Layer
}

// Layer is one layer of an image.
type Layer interface {
	// Digest identifies the layer's content (the blob digest of the
	// manifest). Results are cached under it; an empty digest disables
	// caching for the layer.
	Digest() string
	// Open returns the layer blob as stored: a tar, optionally gzip or zstd
	// compressed (the catalog detects which from the first bytes). When
	// Digest is set the catalog verifies the bytes against it.
	Open(ctx context.Context) (io.ReadCloser, error)
}

// DiffIDLayer is an optional extension of Layer: the catalog checks the
// layer's uncompressed content against DiffID (the image configuration's
// rootfs.diff_ids entry) and fails with ErrDiffID on a mismatch, so what
// is scanned is what a runtime would unpack. A result already cached for
// the layer's digest is trusted without reading it again.
type DiffIDLayer interface {
	Layer
	DiffID() string
}

// FSLayer is an optional extension of Layer for content that is already a
// file tree (a root filesystem directory): the catalog walks FS instead of
// a tar stream and opens only the files analyzers want. Open is not called.
type FSLayer interface {
	Layer
	FS() fs.FS
}
