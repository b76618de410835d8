package gunzip

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// mixedTar builds a tar of about size bytes from the Go installation's
// source text and binaries, the mix a container layer has, padded with
// pseudo-random and repetitive files if the installation is small.
func mixedTar(t testing.TB, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	root := runtime.GOROOT()
	for _, dir := range []string{"src", "pkg/tool"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || buf.Len() >= size {
				return fs.SkipAll
			}
			if !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil || len(data) > size/4 {
				return nil
			}
			add(p[len(root):], data)
			return nil
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; buf.Len() < size; i++ {
		data := make([]byte, 64<<10)
		for j := range data {
			if i%2 == 0 {
				data[j] = byte(rng.IntN(256))
			} else {
				data[j] = "moat layer "[j%11]
			}
		}
		add(fmt.Sprintf("pad/%d", i), data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// reference decodes with compress/gzip.
func reference(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// decode decodes with a Reader.
func decode(r io.Reader) ([]byte, error) {
	zr, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

// sources are the ways every stream is fed to the Reader: whole, and a
// byte per Read, which the input buffer must gather.
var sources = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"oneByte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
}

func TestMatchesCompressGzip(t *testing.T) {
	tarball := mixedTar(t, 3<<19)
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 50_000)

	var pg bytes.Buffer
	pw := pgzip.NewWriter(&pg)
	if err := pw.SetConcurrency(64<<10, 4); err != nil {
		t.Fatal(err)
	}
	pw.Write(tarball)
	pw.Close()

	var kg bytes.Buffer
	kw, _ := kgzip.NewWriterLevel(&kg, kgzip.BestSpeed)
	kw.Write(tarball)
	kw.Close()

	var hdr bytes.Buffer
	hw := gzip.NewWriter(&hdr)
	hw.Name, hw.Comment, hw.Extra = "layer.tar", "a comment", []byte("extra field")
	hw.Write(text)
	hw.Close()

	var concat []byte
	for _, part := range [][]byte{text[:1000], nil, tarball[:200_000], nil} {
		concat = append(concat, gz(t, part, 6)...)
	}

	streams := map[string][]byte{
		"level1":      gz(t, tarball, 1),
		"level6":      gz(t, tarball, 6),
		"level9":      gz(t, tarball, 9),
		"stored":      gz(t, tarball, gzip.NoCompression),
		"huffmanOnly": gz(t, tarball, gzip.HuffmanOnly),
		"text":        gz(t, text, 6),
		"pgzip":       pg.Bytes(),
		"klauspost":   kg.Bytes(),
		"header":      withHeaderCRC(t, hdr.Bytes()),
		"fixed":       fixedHuffman(text[:5000]),
		"empty":       gz(t, nil, 6),
		"concat":      concat,
		"tiny":        gz(t, []byte("x"), 6),
	}
	for name, stream := range streams {
		want, err := reference(stream)
		if err != nil {
			t.Fatalf("%s: compress/gzip: %v", name, err)
		}
		for _, src := range sources {
			t.Run(name+"/"+src.name, func(t *testing.T) {
				got, err := decode(src.wrap(stream))
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("output differs: %d bytes, want %d", len(got), len(want))
				}
			})
		}
	}
}

func TestErrors(t *testing.T) {
	good := gz(t, mixedTar(t, 1<<20), 6)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	cases := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"empty input", nil, io.EOF},
		{"bad magic", []byte("not gzip at all"), gzip.ErrHeader},
		{"short header", good[:5], io.ErrUnexpectedEOF},
		{"bad method", func() []byte { b := bytes.Clone(good); b[2] = 7; return b }(), gzip.ErrHeader},
		{"bad crc", flip(len(good) - 6), gzip.ErrChecksum},
		{"bad size", flip(len(good) - 2), gzip.ErrChecksum},
		{"truncated trailer", good[:len(good)-3], io.ErrUnexpectedEOF},
		{"truncated data", good[:len(good)/2], io.ErrUnexpectedEOF},
		{"garbage after member", append(bytes.Clone(good), "junk......"...), gzip.ErrHeader},
		{"bad block type", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x07, 0, 0, 0, 0, 0, 0, 0, 0}, nil},
	}
	for _, c := range cases {
		_, refErr := reference(c.stream)
		if refErr == nil {
			t.Fatalf("%s: compress/gzip accepts it", c.name)
		}
		for _, src := range sources {
			_, err := decode(src.wrap(c.stream))
			if err == nil {
				t.Errorf("%s/%s: no error, compress/gzip says %v", c.name, src.name, refErr)
				continue
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("%s/%s: %v, want %v", c.name, src.name, err, c.want)
			}
			if c.want == nil {
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Errorf("%s/%s: %v, want a CorruptError", c.name, src.name, err)
				}
			}
		}
	}
}

// TestCorruptMidStream flips bits across a large stream: whatever either
// decoder makes of it, both must agree on success and on the output.
func TestCorruptMidStream(t *testing.T) {
	good := gz(t, mixedTar(t, 512<<10), 6)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 25 {
		b := bytes.Clone(good)
		i := 10 + rng.IntN(len(b)-18)
		b[i] ^= byte(1 << rng.IntN(8))
		want, refErr := reference(b)
		got, err := decode(bytes.NewReader(b))
		if (err == nil) != (refErr == nil) {
			t.Fatalf("flip at %d: err %v, compress/gzip %v", i, err, refErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("flip at %d: output differs", i)
		}
	}
}

func TestTruncatedEverywhere(t *testing.T) {
	good := gz(t, mixedTar(t, 200<<10), 6)
	for n := 0; n < len(good); n += 1 + n/20 {
		if _, err := decode(bytes.NewReader(good[:n])); err == nil {
			t.Fatalf("%d of %d bytes: no error", n, len(good))
		}
	}
}

func TestSourceError(t *testing.T) {
	good := gz(t, mixedTar(t, 4<<20), 6)
	boom := errors.New("disk on fire")
	for _, src := range sources {
		r := io.MultiReader(src.wrap(good[:len(good)/2]), iotest.ErrReader(boom))
		if _, err := decode(r); !errors.Is(err, boom) {
			t.Errorf("%s: %v, want the source's error", src.name, err)
		}
	}
}

// panicReader panics once its good bytes are read.
type panicReader struct{ r io.Reader }

func (p panicReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == io.EOF {
		panic("source exploded")
	}
	return n, err
}

// TestPanicBecomesError: a panic in the decoding goroutine fails the
// stream with an error instead of taking the process down.
func TestPanicBecomesError(t *testing.T) {
	good := gz(t, mixedTar(t, 1<<20), 6)
	_, err := decode(panicReader{bytes.NewReader(good[:len(good)/2])})
	if err == nil || !strings.Contains(err.Error(), "source exploded") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
}

// TestCloseEarly stops a reader mid-stream, with the decoder blocked
// on pieces in flight; Close must return promptly and later reads fail.
func TestCloseEarly(t *testing.T) {
	stream := gz(t, mixedTar(t, 4<<20), 6)
	zr, err := NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, zr, 100_000); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { zr.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	if _, err := zr.Read(make([]byte, 10)); !errors.Is(err, errClosed) {
		t.Errorf("read after Close: %v, want errClosed", err)
	}
	if err := zr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// withHeaderCRC sets FHCRC on a compress/gzip stream (which never writes
// it) by inserting the header's CRC-16.
func withHeaderCRC(t testing.TB, stream []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	// Header length: 10 + extra + name + comment.
	n := 10 + 2 + len(zr.Extra) + len(zr.Name) + 1 + len(zr.Comment) + 1
	h := bytes.Clone(stream[:n])
	h[3] |= 0x02
	c := crc32.ChecksumIEEE(h)
	out := append(h, byte(c), byte(c>>8))
	return append(out, stream[n:]...)
}

// fixedHuffman writes data as one gzip member of fixed-Huffman blocks
// (RFC 1951 3.2.6), with a 4-byte match wherever the text 4 back repeats,
// which compress/flate only emits for tiny inputs.
func fixedHuffman(data []byte) []byte {
	var bw bitWriter
	bw.out = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}
	for start := 0; start < len(data); start += 1000 {
		end := min(start+1000, len(data))
		bw.bits(boolBit(end == len(data)), 1)
		bw.bits(1, 2)
		for i := start; i < end; {
			if i-start >= 4 && i+4 <= end && bytes.Equal(data[i:i+4], data[i-4:i]) {
				bw.code(2, 7) // length 4: symbol 258, 7-bit code 0000010
				bw.code(3, 5) // distance 4: symbol 3
				i += 4
				continue
			}
			c := int(data[i])
			if c < 144 {
				bw.code(0x30+c, 8)
			} else {
				bw.code(0x190+c-144, 9)
			}
			i++
		}
		bw.code(0, 7) // end of block
	}
	bw.flush()
	c, n := crc32.ChecksumIEEE(data), uint32(len(data))
	return append(bw.out, byte(c), byte(c>>8), byte(c>>16), byte(c>>24), byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
}

type bitWriter struct {
	out []byte
	acc uint64
	n   uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// code writes a Huffman code, most significant bit first.
func (w *bitWriter) code(c int, n uint) {
	w.bits(uint64(reverse(c, int(n))), n)
}

func (w *bitWriter) flush() {
	if w.n > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc, w.n = 0, 0
	}
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestFixedHuffmanHelper(t *testing.T) {
	// The helper's stream must be what compress/flate reads back, or the
	// fixed-block test proves nothing.
	data := []byte("abcdabcdabcd hello hello hello \xff\xfe")
	got, err := reference(fixedHuffman(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fixed-Huffman helper: %q, %v", got, err)
	}
}
