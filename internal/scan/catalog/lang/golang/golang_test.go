package golang

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
)

// vulnapp-buildinfo.bin is the first KiB of /usr/local/bin/vulnapp from the
// app image (its ELF header) followed by the binary's real build info
// blob, so the stream scanner runs on real bytes without an 8 MB fixture.
func TestBinaryRealBuildInfo(t *testing.T) {
	b, err := os.ReadFile("testdata/vulnapp-buildinfo.bin")
	if err != nil {
		t.Fatal(err)
	}
	res, err := langtest.Analyze(t, Binary{}, "/usr/local/bin/vulnapp", 0o755, b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"stdlib":                                        "1.26.8",
		"example.com/vulnapp":                           "(devel)",
		"github.com/gin-contrib/sse":                    "v0.1.0",
		"github.com/gin-gonic/gin":                      "v1.6.0",
		"github.com/go-playground/locales":              "v0.13.0",
		"github.com/go-playground/universal-translator": "v0.17.0",
		"github.com/go-playground/validator/v10":        "v10.2.0",
		"github.com/golang/protobuf":                    "v1.3.3",
		"github.com/leodido/go-urn":                     "v1.2.0",
		"github.com/mattn/go-isatty":                    "v0.0.12",
		"github.com/ugorji/go/codec":                    "v1.1.7",
		"golang.org/x/net":                              "v0.0.0-20200202094626-16171245cfb2",
		"golang.org/x/sys":                              "v0.0.0-20200116001909-b77594299b42",
		"golang.org/x/text":                             "v0.3.5",
		"gopkg.in/yaml.v2":                              "v2.2.8",
	}
	if len(res.Packages) != len(want) {
		t.Errorf("found %d packages, want %d", len(res.Packages), len(want))
	}
	for _, p := range res.Packages {
		if want[p.Name] != p.Version || p.Ecosystem != catalog.Go || p.Paths[0] != "/usr/local/bin/vulnapp" {
			t.Errorf("unexpected %+v", p)
		}
	}
	purls := langtest.PURLs(res.Packages)
	for _, s := range []string{"pkg:golang/stdlib@1.26.8", "pkg:golang/github.com/gin-gonic/gin@v1.6.0", "pkg:golang/gopkg.in/yaml.v2@v2.2.8"} {
		if !strings.Contains(purls, s) {
			t.Errorf("missing %s in %s", s, purls)
		}
	}
	if s := langtest.Find(res.Packages, "stdlib"); len(s) != 1 || s[0].Type != "go-stdlib" {
		t.Errorf("stdlib = %+v", s)
	}

	// The same bytes split at every awkward boundary.
	for _, r := range []io.Reader{iotest.OneByteReader(bytes.NewReader(b)), iotest.HalfReader(bytes.NewReader(b))} {
		res, err := Binary{}.Analyze(t.Context(), &catalog.File{Path: "/x", Mode: 0o755, Size: int64(len(b)), Content: r})
		if err != nil || len(res.Packages) != len(want) {
			t.Errorf("chunked read: %v packages, err %v", res, err)
		}
	}
}

// The magic straddles the scanner's window boundary.
func TestBinaryMagicAcrossWindow(t *testing.T) {
	b, err := os.ReadFile("testdata/vulnapp-buildinfo.bin")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(buildInfoMagic))
	for _, at := range []int{window - 5, window, window + 1, 3*window - 13} {
		in := append(append(append([]byte{}, b[:4]...), make([]byte, at-4)...), b[i:]...)
		res, err := Binary{}.Analyze(t.Context(), &catalog.File{Path: "/x", Mode: 0o755, Content: bytes.NewReader(in)})
		if err != nil || res == nil || len(res.Packages) != 15 {
			t.Errorf("magic at %d: %+v, %v", at, res, err)
		}
	}
}

// A freshly built binary that links debug/buildinfo carries the magic as a
// string constant too, and uses a directory replacement.
func TestBinaryBuilt(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", bin, ".")
	cmd.Dir = "testdata/hello"
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	res, err := Binary{}.Analyze(t.Context(), &catalog.File{Path: "/hello", Mode: st.Mode(), Size: st.Size(), Content: f})
	if err != nil {
		t.Fatal(err)
	}
	got := langtest.PURLs(res.Packages)
	exp := "pkg:golang/example.com/dep@%28devel%29 pkg:golang/example.com/hello@%28devel%29 pkg:golang/stdlib@" + strings.TrimPrefix(want.GoVersion, "go")
	if got != exp {
		t.Errorf("got  %s\nwant %s", got, exp)
	}
}

func TestPackagesReplacements(t *testing.T) {
	bi, err := debug.ParseBuildInfo("path\texample.com/app\nmod\texample.com/app\tv1.2.3\th1:x=\n" +
		"dep\tgithub.com/a/b\tv1.0.0\n=>\tgithub.com/fork/b\tv1.0.1\th1:y=\n" +
		"dep\tgithub.com/c/d\tv0.1.0\n=>\t../d\t(devel)\t\n" +
		"dep\tgolang.org/x/text\tv0.3.5\th1:z=\n")
	if err != nil {
		t.Fatal(err)
	}
	bi.GoVersion = "go1.21.0 X:boringcrypto"
	got := langtest.PURLs(Packages(bi, "/app"))
	want := "pkg:golang/example.com/app@v1.2.3 pkg:golang/github.com/c/d@%28devel%29 pkg:golang/github.com/fork/b@v1.0.1 pkg:golang/golang.org/x/text@v0.3.5 pkg:golang/stdlib@1.21.0"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if p := Packages(&debug.BuildInfo{GoVersion: "devel go1.23-abc"}, "/x"); len(p) != 0 {
		t.Errorf("devel toolchain reported: %+v", p)
	}
}

func TestBinaryNotGo(t *testing.T) {
	for name, in := range map[string][]byte{
		"script":    []byte("#!/bin/sh\necho hi\n" + strings.Repeat("x", 2000)),
		"elf":       append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 5000)...),
		"truncated": append([]byte("\x7fELF\xff Go buildinf:\x08\x02"), make([]byte, 16)...),
		"short":     []byte("MZ"),
		"huge len":  append(append([]byte("\x7fELF\xff Go buildinf:\x08\x02"), make([]byte, 16)...), 0xff, 0xff, 0xff, 0xff, 0x0f),
	} {
		res, err := Binary{}.Analyze(t.Context(), &catalog.File{Path: "/x", Mode: 0o755, Content: bytes.NewReader(in)})
		if err != nil || res != nil {
			t.Errorf("%s: %+v, %v", name, res, err)
		}
	}
}

// A Go 1.13–1.17 binary: the framed module information sits in read-only
// data, the header after it only points at the Go version.
func TestBinaryLegacy(t *testing.T) {
	mod := "path\texample.com/old\nmod\texample.com/old\tv1.0.0\t\ndep\tgithub.com/gin-gonic/gin\tv1.4.0\th1:x=\n"
	header := "\xff Go buildinf:\x08\x00" + strings.Repeat("\x00", 16)
	filler := strings.Repeat("\x00", window)
	for name, tc := range map[string]struct {
		in, want string
		err      error
	}{
		"modules": {"\x7fELF" + filler + infoStart + mod + infoEnd + filler + header + filler,
			"pkg:golang/example.com/old@v1.0.0 pkg:golang/github.com/gin-gonic/gin@v1.4.0", nil},
		"no modules":   {"\x7fELF" + filler + header, "", ErrLegacyBuildInfo},
		"unterminated": {"\x7fELF" + infoStart + mod + filler + header, "", ErrLegacyBuildInfo},
	} {
		res, err := Binary{}.Analyze(t.Context(), &catalog.File{Path: "/x", Mode: 0o755, Content: strings.NewReader(tc.in)})
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.err)
			continue
		}
		if tc.err != nil {
			continue
		}
		if got := langtest.PURLs(res.Packages); got != tc.want {
			t.Errorf("%s: got %s, want %s", name, got, tc.want)
		}
		if len(res.Packages[0].Warnings) != 1 {
			t.Errorf("%s: no warning about the unknown toolchain: %+v", name, res.Packages[0])
		}
	}
}

func TestBinaryCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	in := append([]byte("\x7fELF"), make([]byte, 3*window)...)
	if _, err := (Binary{}).Analyze(ctx, &catalog.File{Path: "/x", Mode: 0o755, Content: bytes.NewReader(in)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestBinaryWants(t *testing.T) {
	if !(Binary{}).Wants("/usr/local/bin/vulnapp", 0o755, 8<<20) {
		t.Error("executable not wanted")
	}
	if (Binary{}).Wants("/usr/lib/x.so", 0o644, 8<<20) || (Binary{}).Wants("/bin/tiny", 0o755, 10) {
		t.Error("non-executable or tiny file wanted")
	}
}

func TestToolchain(t *testing.T) {
	res, err := langtest.Analyze(t, Toolchain{}, "/usr/local/go/VERSION", 0o644, []byte("go1.26.8\ntime 2026-10-01T00:00:00Z\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := res.Packages[0]
	if p.PURL != "pkg:golang/stdlib@1.26.8" || p.Type != "runtime" || p.Ecosystem != catalog.Go {
		t.Errorf("got %+v", p)
	}
	for _, path := range []string{"/usr/lib/go-1.19/VERSION", "/opt/go/VERSION"} {
		if !(Toolchain{}).Wants(path, 0o644, 40) {
			t.Errorf("%s not wanted", path)
		}
	}
	if (Toolchain{}).Wants("/usr/share/doc/x/VERSION", 0o644, 40) {
		t.Error("unrelated VERSION wanted")
	}
	for _, in := range []string{"", "devel +abc", "1.2.3", "go1.2/3"} {
		if _, err := (Toolchain{}).Analyze(t.Context(), &catalog.File{Path: "/go/VERSION", Content: strings.NewReader(in)}); err == nil {
			t.Errorf("no error for %q", in)
		}
	}
}

func FuzzBinary(f *testing.F) {
	langtest.Fuzz(f, Binary{}, "/bin/x", 0o755, langtest.Seed(f, "testdata/vulnapp-buildinfo.bin"))
}

func FuzzToolchain(f *testing.F) {
	langtest.Fuzz(f, Toolchain{}, "/usr/local/go/VERSION", 0o644, []byte("go1.26.8\ntime x\n"))
}
