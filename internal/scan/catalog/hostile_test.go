package catalog_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
)

func hasWarning(inv *catalog.Inventory, sub string) bool {
	return slices.ContainsFunc(inv.Warnings, func(w string) bool { return strings.Contains(w, sub) })
}

// TestHostileEntries feeds one layer per hostile case: each must leave a
// warning where one is due, never crash, and keep the good package that
// follows the hostile entry.
func TestHostileEntries(t *testing.T) {
	good := ct.File("pkgs/good", "good 1")
	tests := []struct {
		name    string
		entries []ct.Entry
		warn    string
		want    []string
	}{
		{"path traversal name is confined to the root",
			[]ct.Entry{ct.File("../../../pkgs/evil", "evil 1"), good}, "escapes the root", []string{"evil@1@0", "good@1@0"}},
		{"absolute name", []ct.Entry{ct.File("/pkgs/abs", "abs 1"), good}, "", []string{"abs@1@0", "good@1@0"}},
		{"absolute symlink is not followed",
			[]ct.Entry{{Name: "pkgs/link", Type: tar.TypeSymlink, Linkname: "/etc/shadow"}, good}, "", []string{"good@1@0"}},
		{"dot-dot symlink is not followed",
			[]ct.Entry{{Name: "pkgs/up", Type: tar.TypeSymlink, Linkname: "../../../../etc"}, good}, "", []string{"good@1@0"}},
		{"symlink loop",
			[]ct.Entry{{Name: "pkgs/loop1", Type: tar.TypeSymlink, Linkname: "loop2"}, {Name: "pkgs/loop2", Type: tar.TypeSymlink, Linkname: "loop1"}, good},
			"", []string{"good@1@0"}},
		{"hard link to a missing target",
			[]ct.Entry{{Name: "pkgs/hard", Type: tar.TypeLink, Linkname: "nowhere/file"}, good}, "missing target", []string{"good@1@0"}},
		{"device files",
			[]ct.Entry{{Name: "pkgs/null", Type: tar.TypeChar}, {Name: "dev/sda", Type: tar.TypeBlock}, {Name: "pkgs/fifo", Type: tar.TypeFifo}, good},
			"", []string{"good@1@0"}},
		{"wanted file larger than the limit is skipped",
			[]ct.Entry{ct.File("pkgs/big", strings.Repeat("x 1\n", 1<<10)), good}, "file limit", []string{"good@1@0"}},
		{"malformed database is a warning",
			[]ct.Entry{ct.File("pkgs/bad", "no-version-here"), good}, "bad line", []string{"good@1@0"}},
		{"analyzer panic is a warning",
			[]ct.Entry{ct.File("pkgs/panic", ""), good}, "panicked", []string{"good@1@0"}},
		{"truncated entry keeps what came before",
			[]ct.Entry{good, {Name: "pkgs/cut", Body: []byte("cut 1"), Size: 1 << 20}}, "layer read stopped", []string{"good@1@0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A Size above len(Body) writes a truncated tar.
			raw := ct.Tar(tc.entries...)
			inv := run(t, ct.NewImage(ct.Gzip(raw)), catalog.WithMaxFileSize(1<<11))
			if got := names(inv); !slices.Equal(got, tc.want) {
				t.Errorf("packages %v, want %v", got, tc.want)
			}
			if tc.warn != "" && !hasWarning(inv, tc.warn) {
				t.Errorf("no warning containing %q in %q", tc.warn, inv.Warnings)
			}
		})
	}
}

// gnuSparse returns an old-GNU sparse header ('S') for a file of the
// given logical size with no data at all (the octal field holds up to
// 8 GiB - 1).
func gnuSparse(name string, realsize int64) []byte {
	h := make([]byte, 512)
	copy(h, name)
	copy(h[100:], "0000644\x00")
	copy(h[108:], "0000000\x00")
	copy(h[116:], "0000000\x00")
	copy(h[124:], "00000000000\x00") // physical size
	copy(h[136:], "00000000000\x00")
	h[156] = 'S'
	copy(h[257:], "ustar  \x00")
	copy(h[483:], fmt.Sprintf("%011o\x00", realsize))
	copy(h[148:], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

// TestHugeSparseEntry declares 8 GiB sparse files, wanted and not:
// both must pass in constant time and memory, the wanted one with a
// warning.
func TestHugeSparseEntry(t *testing.T) {
	var raw []byte
	raw = append(raw, gnuSparse("pkgs/sparse", 1<<33-1)...)
	raw = append(raw, gnuSparse("var/huge", 1<<33-1)...)
	raw = append(raw, ct.Tar(ct.File("pkgs/good", "good 1"))...)
	start := time.Now()
	inv := run(t, ct.NewImage(ct.Gzip(raw)))
	if time.Since(start) > 10*time.Second {
		t.Errorf("sparse entries took %v", time.Since(start))
	}
	if !slices.Equal(names(inv), []string{"good@1@0"}) {
		t.Errorf("packages %v", names(inv))
	}
	if !hasWarning(inv, "/pkgs/sparse: 8589934591 bytes exceeds") {
		t.Errorf("no warning for the wanted sparse file: %q", inv.Warnings)
	}
}

// TestDecompressionBomb stops reading a layer at the uncompressed limit
// and keeps what was found before it.
func TestDecompressionBomb(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	good := []byte("good 1")
	tw.WriteHeader(&tar.Header{Name: "pkgs/good", Size: int64(len(good)), Mode: 0o644})
	tw.Write(good)
	const bomb = 48 << 20
	tw.WriteHeader(&tar.Header{Name: "zeros", Size: bomb, Mode: 0o644})
	zero := make([]byte, 1<<20)
	for range bomb >> 20 {
		tw.Write(zero)
	}
	tw.Close()
	zw.Close()
	if buf.Len() > 2<<20 {
		t.Fatalf("bomb is %d bytes compressed", buf.Len())
	}
	inv := run(t, ct.NewImage(buf.Bytes()), catalog.WithMaxLayerSize(16<<20))
	if !hasWarning(inv, "uncompressed size limit") {
		t.Errorf("no bomb warning: %q", inv.Warnings)
	}
	if got := names(inv); !slices.Equal(got, []string{"good@1@0"}) {
		t.Errorf("got %v", got)
	}
}

// TestManyEntries reads a layer of 100k entries quickly and without
// per-entry warnings piling up.
func TestManyEntries(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range 100_000 {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("../d%d/f%d", i%100, i), Mode: 0o644})
	}
	tw.WriteHeader(&tar.Header{Name: "pkgs/good", Size: 6, Mode: 0o644})
	tw.Write([]byte("good 1"))
	tw.Close()
	start := time.Now()
	inv := run(t, ct.NewImage(ct.Gzip(buf.Bytes())))
	if d := time.Since(start); d > 2*time.Minute {
		t.Errorf("100k entries took %v", d)
	}
	if got := names(inv); !slices.Equal(got, []string{"good@1@0"}) {
		t.Errorf("got %v", got)
	}
	if len(inv.Warnings) > 60 {
		t.Errorf("%d warnings kept; want them bounded", len(inv.Warnings))
	}
	if !hasWarning(inv, "more warnings not shown") {
		t.Errorf("dropped warnings not summarised: %q", inv.Warnings[len(inv.Warnings)-1])
	}
}

func TestEntryLimit(t *testing.T) {
	var entries []ct.Entry
	for i := range 100 {
		entries = append(entries, ct.File(fmt.Sprintf("f%d", i), ""))
	}
	entries = append(entries, ct.File("pkgs/late", "late 1"))
	inv := run(t, ct.NewImage(ct.Tar(entries...)), catalog.WithMaxEntries(50))
	if !hasWarning(inv, "more than 50 entries") || len(inv.Packages) != 0 {
		t.Errorf("entry limit not applied: %v %q", names(inv), inv.Warnings)
	}
}

// TestGarbageLayers never panics on blobs that are not tars.
func TestGarbageLayers(t *testing.T) {
	for name, blob := range map[string][]byte{
		"empty":          {},
		"text":           []byte("hello world, this is not a tar"),
		"gzip header":    {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3},
		"zstd header":    {0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0},
		"truncated gzip": ct.Gzip(ct.Tar(ct.File("pkgs/a", "a 1")))[:20],
	} {
		t.Run(name, func(t *testing.T) {
			inv, err := newCatalog(t, &listAnalyzer{}).Catalog(context.Background(), ct.NewImage(blob))
			if err != nil {
				t.Fatalf("garbage layer is an error, want a warning: %v", err)
			}
			if name != "empty" && len(inv.Warnings) == 0 {
				t.Error("no warning")
			}
		})
	}
}

// FuzzWalk feeds arbitrary bytes as a layer: the walk must not panic and
// must return an inventory.
func FuzzWalk(f *testing.F) {
	f.Add(ct.Tar(ct.File("pkgs/a", "a 1"), ct.File("pkgs/.wh.b", ""), ct.File("x/.wh..wh..opq", "")))
	f.Add(ct.Gzip(ct.Tar(ct.File("../pkgs/a", "a 1"), ct.Entry{Name: "pkgs/l", Type: tar.TypeLink, Linkname: "q"})))
	f.Add(ct.Zstd(ct.Tar(ct.File("pkgs/a", "a 1"))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := catalog.New([]catalog.Analyzer{&listAnalyzer{}}, catalog.WithMaxLayerSize(8<<20), catalog.WithMaxFileSize(1<<16))
		if err != nil {
			t.Fatal(err)
		}
		inv, err := c.Catalog(context.Background(), ct.NewImage(b))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Discard.Write([]byte(fmt.Sprint(inv)))
	})
}
