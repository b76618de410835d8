// Package diskcache keeps catalog layer results in a directory, for the
// CLI. Each result is one gob-encoded file named by the SHA-256 of its
// key (gob decodes the large owned-file lists several times faster than
// JSON, which keeps a warm `moat sbom` run short):
//
//	<dir>/<hex[:2]>/<hex>.gob
//
// Files are written to a temporary name in the same directory and renamed,
// so a reader sees a whole result or none; concurrent writers of the same
// key race harmlessly (identical content). Unreadable or corrupt entries
// are reported as misses and overwritten. There is no eviction: delete the
// directory to reclaim space.
package diskcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// Cache is a directory of layer results.
type Cache struct{ dir string }

var _ catalog.Cache = (*Cache)(nil)

// New returns a cache rooted at dir, creating it.
func New(dir string) (*Cache, error) {
	if dir == "" {
		return nil, errors.New("diskcache: empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("diskcache: %w", err)
	}
	return &Cache{dir: dir}, nil
}

// DefaultDir is moat's directory under the user's cache directory.
func DefaultDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "moat", "layers"), nil
}

func (c *Cache) path(k catalog.CacheKey) string {
	h := sha256.Sum256([]byte(k.Layer + "\x00" + k.Analyzers))
	s := hex.EncodeToString(h[:])
	return filepath.Join(c.dir, s[:2], s+".gob")
}

// Get returns catalog.ErrCacheMiss when the key is absent or its entry is
// unreadable.
func (c *Cache) Get(_ context.Context, k catalog.CacheKey) (*catalog.LayerResult, error) {
	f, err := os.Open(c.path(k))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, catalog.ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("diskcache: %w", err)
	}
	defer f.Close()
	// Decoding straight from the file spares a second copy of the entry:
	// gob buffers each message itself.
	var r catalog.LayerResult
	if err := gob.NewDecoder(f).Decode(&r); err != nil || r.Digest != k.Layer {
		return nil, fmt.Errorf("%w: corrupt entry", catalog.ErrCacheMiss)
	}
	return &r, nil
}

// Put stores r under k.
func (c *Cache) Put(_ context.Context, k catalog.CacheKey, r *catalog.LayerResult) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(r); err != nil {
		return fmt.Errorf("diskcache: %w", err)
	}
	b := buf.Bytes()
	p := c.path(k)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("diskcache: %w", err)
	}
	// Same-directory temp file: the rename never crosses devices.
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("diskcache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("diskcache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("diskcache: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("diskcache: %w", err)
	}
	return nil
}
