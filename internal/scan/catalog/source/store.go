package source

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
)

const (
	// maxArchiveEntries bounds the index of an archive; real ones hold a
	// few blobs.
	maxArchiveEntries = 100_000
	// maxJSON bounds the manifests, indexes and configs read into memory.
	maxJSON = 8 << 20
)

// store reads named files of a layout or archive ("index.json",
// "blobs/sha256/<hex>").
type store interface {
	open(name string) (io.ReadCloser, error)
}

type dirStore struct{ root string }

func (d dirStore) open(name string) (io.ReadCloser, error) {
	if !fsSafe(name) {
		return nil, fmt.Errorf("%w: unsafe name %q", ErrNotFound, name)
	}
	f, err := os.Open(filepath.Join(d.root, filepath.FromSlash(name)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotFound, name, err)
	}
	return f, err
}

func fsSafe(name string) bool {
	return name != "" && !strings.HasPrefix(name, "/") && path.Clean(name) == name && name != ".." && !strings.HasPrefix(name, "../")
}

// tarStore reads files of a tar in place.
type tarStore struct {
	f       *os.File
	entries map[string]section
}

type section struct{ off, size int64 }

// openTarStore indexes a tar by reading its headers only: tar.Reader seeks
// past contents because *os.File is an io.Seeker.
func openTarStore(p string) (*tarStore, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	ts := &tarStore{f: f, entries: map[string]section{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %s: reading tar: %w", ErrUnknownSource, p, err)
		}
		if len(ts.entries) >= maxArchiveEntries {
			f.Close()
			return nil, fmt.Errorf("%w: %s: more than %d entries", ErrUnknownSource, p, maxArchiveEntries)
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			continue
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			f.Close()
			return nil, err
		}
		ts.entries[path.Clean(strings.TrimPrefix(hdr.Name, "/"))] = section{off: off, size: hdr.Size}
	}
	return ts, nil
}

func (t *tarStore) has(name string) bool { _, ok := t.entries[name]; return ok }

func (t *tarStore) open(name string) (io.ReadCloser, error) {
	s, ok := t.entries[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return io.NopCloser(io.NewSectionReader(t.f, s.off, s.size)), nil
}

func (t *tarStore) Close() error { return t.f.Close() }

// blobName is the layout path of a digest, validated before use.
func blobName(d string) (string, error) {
	dd, err := digest.Parse(d)
	if err != nil {
		return "", fmt.Errorf("invalid digest %q: %w", d, err)
	}
	return "blobs/" + dd.Algorithm().String() + "/" + dd.Encoded(), nil
}

// readJSON reads a small file whole, refusing large ones.
func readJSON(s store, name string) ([]byte, error) {
	rc, err := s.open(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJSON {
		return nil, fmt.Errorf("%s exceeds %d bytes", name, maxJSON)
	}
	return b, nil
}
