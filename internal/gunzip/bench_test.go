package gunzip

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// realImage is the shared sample image, whose largest gzip layer
// BENCH_DATA=real decodes.
const realImage = "../../../shared/data/images/app-oci.tar"

// benchStream returns the benchmark's gzip stream: the sample image's
// largest layer (BENCH_DATA=real) or a ~100 MB generated tar at level 6.
func benchStream(b *testing.B) []byte {
	b.Helper()
	if os.Getenv("BENCH_DATA") == "real" {
		f, err := os.Open(realImage)
		if err != nil {
			b.Skipf("no sample image: %v", err)
		}
		defer f.Close()
		var best []byte
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if h.Size > int64(len(best)) {
				data, err := io.ReadAll(tr)
				if err != nil {
					b.Fatal(err)
				}
				if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
					best = data
				}
			}
		}
		if best == nil {
			b.Skip("no gzip layer in the sample image")
		}
		return best
	}
	return gz(b, mixedTar(b, 100<<20), 6)
}

// BenchmarkDecode reports MB/s of output for compress/gzip,
// klauspost/compress/gzip, pgzip and this package on the same stream:
//
//	go test -run '^$' -bench Decode ./internal/gunzip/
//	BENCH_DATA=real go test -run '^$' -bench Decode ./internal/gunzip/
func BenchmarkDecode(b *testing.B) {
	stream := benchStream(b)
	size, err := io.Copy(io.Discard, must(gzip.NewReader(bytes.NewReader(stream))))
	if err != nil {
		b.Fatal(err)
	}
	run := func(name string, open func(io.Reader) (io.ReadCloser, error)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				zr, err := open(bytes.NewReader(stream))
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, zr); err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
				zr.Close()
			}
		})
	}
	run("compress-gzip", func(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) })
	run("klauspost-gzip", func(r io.Reader) (io.ReadCloser, error) { return kgzip.NewReader(r) })
	run("pgzip", func(r io.Reader) (io.ReadCloser, error) { return pgzip.NewReaderN(r, 1<<20, 4) })
	run("gunzip", func(r io.Reader) (io.ReadCloser, error) { return NewReader(r) })
}

func must(r *gzip.Reader, err error) *gzip.Reader {
	if err != nil {
		panic(err)
	}
	return r
}
