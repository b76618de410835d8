package lang

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/golang"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/runtime"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/rust"
)

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// One stream, three analyzers: a file holding a node release string, Go
// build info and cargo-auditable data, far apart.
func TestExecutablesFanOut(t *testing.T) {
	node := read(t, "runtime/testdata/node-fragment.bin")
	gobi := read(t, "golang/testdata/vulnapp-buildinfo.bin")
	rs := read(t, "rust/testdata/auditable/hello")
	noise := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(noise)
	in := bytes.Join([][]byte{node, noise, gobi[64:], noise, rs[4:], noise}, nil)
	for _, r := range []io.Reader{bytes.NewReader(in), iotest.HalfReader(bytes.NewReader(in))} {
		res, err := Executables{}.Analyze(t.Context(), &catalog.File{Path: "/usr/local/bin/node", Mode: 0o755, Size: int64(len(in)), Content: r})
		if err != nil {
			t.Fatal(err)
		}
		purls := langtest.PURLs(res.Packages)
		for _, want := range []string{"pkg:generic/node@20.20.2", "pkg:golang/github.com/gin-gonic/gin@v1.6.0", "pkg:golang/stdlib@1.26.8", "pkg:cargo/serde@1.0.152"} {
			if !strings.Contains(purls, want) {
				t.Errorf("missing %s in %s", want, purls)
			}
		}
		if len(res.Packages) != 1+15+4 {
			t.Errorf("found %d packages", len(res.Packages))
		}
	}
}

// Analyzers that stop early (a script is no binary) do not block the others.
func TestExecutablesEarlyExit(t *testing.T) {
	in := "#!/bin/sh\n" + strings.Repeat("exec node \"$@\"\n", 100000)
	res, err := Executables{}.Analyze(t.Context(), &catalog.File{Path: "/usr/bin/node", Mode: 0o755, Size: int64(len(in)), Content: strings.NewReader(in)})
	if err != nil || res != nil {
		t.Fatalf("%+v, %v", res, err)
	}
}

type panicky struct{}

func (panicky) Name() string                          { return "panicky" }
func (panicky) Version() int                          { return 1 }
func (panicky) Wants(string, fs.FileMode, int64) bool { return true }
func (panicky) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	io.CopyN(io.Discard, f.Content, 1000)
	panic("boom")
}

func TestExecutablesPanicAndReadError(t *testing.T) {
	gobi := read(t, "golang/testdata/vulnapp-buildinfo.bin")
	e := Executables{inner: []catalog.Analyzer{panicky{}, golang.Binary{}}}
	res, err := e.Analyze(t.Context(), &catalog.File{Path: "/x", Mode: 0o755, Size: int64(len(gobi)), Content: bytes.NewReader(gobi)})
	if err == nil || !strings.Contains(err.Error(), "panicky panicked") {
		t.Errorf("err = %v", err)
	}
	if res == nil || len(res.Packages) != 15 {
		t.Errorf("packages of the healthy analyzer lost: %+v", res)
	}
	// A failing layer stream reaches every reader as an error.
	r := io.MultiReader(bytes.NewReader(gobi[:100]), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := (Executables{}).Analyze(t.Context(), &catalog.File{Path: "/usr/bin/node", Mode: 0o755, Size: 1 << 20, Content: r}); err == nil {
		t.Error("no error for a broken stream")
	}
}

func TestExecutablesWants(t *testing.T) {
	e := Executables{}
	if !e.Wants("/usr/local/bin/app", 0o755, 1<<20) || e.Wants("/etc/passwd", 0o644, 1<<20) {
		t.Error("Wants does not follow the executable bit")
	}
	if e.Version() != (golang.Binary{}).Version()+(rust.Binary{}).Version()+(runtime.NodeBinary{}).Version() {
		t.Errorf("Version = %d", e.Version())
	}
}
