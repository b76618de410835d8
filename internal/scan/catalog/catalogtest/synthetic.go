package catalogtest

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/klauspost/compress/gzip"
)

// SyntheticLayer is a layer generated while it is read, so tests can
// catalog images far larger than they could hold: Size bytes of file
// content as a tar (gzip-compressed when Gzip is set), made of 32 MiB
// blobs, thousands of small files, Extra files (path -> content) and
// Manifests npm package.json files. It has no digest, so it is neither
// verified nor cached.
type SyntheticLayer struct {
	Size      int64
	Gzip      bool
	Seed      uint64
	Extra     map[string][]byte
	Manifests int
}

func (s *SyntheticLayer) Digest() string { return "" }

func (s *SyntheticLayer) Open(ctx context.Context) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.write(pw)) }()
	return pr, nil
}

func (s *SyntheticLayer) write(w io.Writer) error {
	var zw *gzip.Writer
	if s.Gzip {
		zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		w = zw
	}
	tw := tar.NewWriter(w)
	put := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: epoch}); err != nil {
			return err
		}
		_, err := io.CopyN(tw, r, size)
		return err
	}
	rng := rand.NewChaCha8([32]byte{byte(s.Seed)})
	var src io.Reader = rng
	if s.Gzip {
		// Compressible content keeps generation fast.
		src = &pattern{}
	}
	for name, b := range s.Extra {
		if err := put(name, int64(len(b)), &constReader{b: b}); err != nil {
			return err
		}
	}
	for i := range s.Manifests {
		b := fmt.Appendf(nil, `{"name":"pkg-%d","version":"1.0.%d","license":"MIT"}`, i, i)
		if err := put(fmt.Sprintf("srv/app/node_modules/pkg-%d/package.json", i), int64(len(b)), &constReader{b: b}); err != nil {
			return err
		}
	}
	const blob = 32 << 20
	written := int64(0)
	for i := 0; written < s.Size; i++ {
		// Interleave small files with the blobs.
		for j := range 500 {
			if err := put(fmt.Sprintf("small/%d/%d.txt", i, j), 1024, src); err != nil {
				return err
			}
			written += 1024
		}
		n := min(int64(blob), s.Size-written)
		if n <= 0 {
			break
		}
		if err := put(fmt.Sprintf("data/blob-%d.bin", i), n, src); err != nil {
			return err
		}
		written += n
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

type pattern struct{ n byte }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = p.n
		p.n++
	}
	return len(b), nil
}

type constReader struct {
	b   []byte
	off int
}

func (c *constReader) Read(p []byte) (int, error) {
	if c.off >= len(c.b) {
		return 0, io.EOF
	}
	n := copy(p, c.b[c.off:])
	c.off += n
	return n, nil
}
