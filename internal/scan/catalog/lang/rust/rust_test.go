package rust

import (
	"bytes"
	"compress/zlib"
	"errors"
	"math/rand"
	"os"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/bounded"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
)

const wantAudit = "pkg:cargo/adler@1.0.2 pkg:cargo/crc32fast@1.3.2 pkg:cargo/rustls-webpki@0.101.4 pkg:cargo/serde@1.0.152"

func TestAuditableBinary(t *testing.T) {
	b, err := os.ReadFile("testdata/auditable/hello")
	if err != nil {
		t.Fatal(err)
	}
	res, err := langtest.Analyze(t, Binary{}, "/usr/local/bin/hello", 0o755, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := langtest.PURLs(res.Packages); got != wantAudit {
		t.Errorf("got  %s\nwant %s", got, wantAudit)
	}
	for _, p := range res.Packages {
		if p.Ecosystem != catalog.CratesIO || p.Type != "cargo" || p.Paths[0] != "/usr/local/bin/hello" {
			t.Errorf("bad package %+v", p)
		}
	}
}

// The audit data lands anywhere in a large binary full of zlib-looking
// bytes, including across the scanner's window boundaries.
func TestAuditableAtAnyOffset(t *testing.T) {
	b, err := os.ReadFile("testdata/auditable/hello")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte{0x78, 0xda})
	section := b[i : i+0xb4]
	noise := make([]byte, 3*window)
	rand.New(rand.NewSource(1)).Read(noise)
	for k := 0; k+1 < len(noise); k += 997 {
		noise[k], noise[k+1] = 0x78, 0x9c // plausible zlib headers everywhere
	}
	for _, at := range []int{100, window - probeTail - 3, window - 1, window + 7, 2*window - 50} {
		in := append(append(append([]byte("\x7fELF"), noise[:at]...), section...), noise[at:]...)
		res, err := Binary{}.Analyze(t.Context(), &catalog.File{Path: "/x", Mode: 0o755, Content: bytes.NewReader(in)})
		if err != nil || res == nil || langtest.PURLs(res.Packages) != wantAudit {
			t.Errorf("at %d: %+v, %v", at, res, err)
		}
	}
	// Without the section: nothing, and no error.
	res, err := Binary{}.Analyze(t.Context(), &catalog.File{Path: "/x", Mode: 0o755, Content: bytes.NewReader(append([]byte("\x7fELF"), noise...))})
	if err != nil || res != nil {
		t.Errorf("plain binary: %+v, %v", res, err)
	}
}

func TestAuditableHostile(t *testing.T) {
	compress := func(s string) []byte {
		var buf bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
		zw.Write([]byte(s))
		zw.Close()
		return buf.Bytes()
	}
	for name, data := range map[string][]byte{
		"truncated": compress(`{"packages":[{"name":"a","version":"1"}]}`)[:20],
		"bad json":  compress(`{"packages":[{"name":1}]}`),
		"bad name":  compress(`{"packages":[{"name":"a b","version":"1","source":"crates.io"}]}`),
	} {
		in := append(append([]byte("\x7fELF"), make([]byte, 5000)...), data...)
		in = append(in, make([]byte, 100)...)
		if _, err := (Binary{}).Analyze(t.Context(), &catalog.File{Path: "/x", Mode: 0o755, Content: bytes.NewReader(in)}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A decompression bomb stops at the limit (scaled down here).
	bomb := append([]byte("\x7fELF"), compress(`{"packages":[`+strings.Repeat(" ", 1<<20)+`]}`)...)
	if _, err := findAuditJSON(t.Context(), bytes.NewReader(bomb), 64<<10); !errors.Is(err, bounded.ErrTooLarge) {
		t.Errorf("bomb: err = %v, want ErrTooLarge", err)
	}
	if res, err := (Binary{}).Analyze(t.Context(), &catalog.File{Path: "/x", Content: strings.NewReader("#!/bin/sh\n")}); res != nil || err != nil {
		t.Errorf("script: %v %v", res, err)
	}
}

func TestCargoLock(t *testing.T) {
	b, err := os.ReadFile("testdata/Cargo.lock")
	if err != nil {
		t.Fatal(err)
	}
	res, err := langtest.Analyze(t, Lock{}, "/src/app/Cargo.lock", 0o644, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := langtest.PURLs(res.Packages), "pkg:cargo/adler@1.0.2 pkg:cargo/cfg-if@1.0.0 pkg:cargo/crc32fast@1.3.2"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, in := range []string{"[[package]\n", "[[package]]\nname = \"a b\"\nversion = \"1\"\nsource = \"x\"\n"} {
		if _, err := (Lock{}).Analyze(t.Context(), &catalog.File{Path: "/Cargo.lock", Content: strings.NewReader(in)}); err == nil {
			t.Errorf("no error for %q", in)
		}
	}
}

func FuzzBinary(f *testing.F) {
	langtest.Fuzz(f, Binary{}, "/bin/x", 0o755, langtest.Seed(f, "testdata/auditable/hello"))
}

func FuzzLock(f *testing.F) {
	langtest.Fuzz(f, Lock{}, "/Cargo.lock", 0o644, langtest.Seed(f, "testdata/Cargo.lock"))
}
