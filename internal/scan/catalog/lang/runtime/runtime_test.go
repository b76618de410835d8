package runtime

import (
	"os"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
)

func read(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRuntimes(t *testing.T) {
	// node-fragment.bin is the ELF header and the 4 KiB around the release
	// string of a real node 20.20.2 binary.
	frag := read(t, "testdata/node-fragment.bin")
	padded := append(append(append([]byte{}, frag[:64]...), make([]byte, 3*window-7)...), frag[64:]...)
	for _, tc := range []struct {
		a         catalog.Analyzer
		path      string
		mode      os.FileMode
		content   []byte
		purl      string
		ecosystem catalog.Ecosystem
	}{
		{NodeHeader{}, "/usr/local/include/node/node_version.h", 0o644, read(t, "testdata/node_version.h"), "pkg:generic/node@20.20.2", catalog.Npm},
		{NodeBinary{}, "/usr/local/bin/node", 0o755, frag, "pkg:generic/node@20.20.2", catalog.Npm},
		{NodeBinary{}, "/usr/bin/node", 0o755, padded, "pkg:generic/node@20.20.2", catalog.Npm},
		{Python{}, "/usr/local/include/python3.11/patchlevel.h", 0o644, read(t, "testdata/patchlevel.h"), "pkg:generic/python@3.11.7", catalog.PyPI},
		{Java{}, "/usr/lib/jvm/java-17-openjdk-amd64/release", 0o644, read(t, "testdata/release"), "pkg:generic/java@17.0.15", catalog.Maven},
	} {
		res, err := langtest.Analyze(t, tc.a, tc.path, tc.mode, tc.content)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if len(res.Packages) != 1 {
			t.Fatalf("%s: %+v", tc.path, res)
		}
		p := res.Packages[0]
		if p.PURL != tc.purl || p.Type != "runtime" || p.Ecosystem != tc.ecosystem || p.Paths[0] != tc.path {
			t.Errorf("%s: %+v", tc.path, p)
		}
	}
}

func TestNotRuntimes(t *testing.T) {
	for _, tc := range []struct {
		a    catalog.Analyzer
		path string
		in   string
	}{
		{NodeBinary{}, "/usr/bin/node", "#!/bin/sh\nexec nodejs \"$@\"\n"},
		{Java{}, "/opt/java/openjdk/release", "SOURCE=\".:git:abc\"\n"},
	} {
		res, err := tc.a.Analyze(t.Context(), &catalog.File{Path: tc.path, Content: strings.NewReader(tc.in)})
		if err != nil || res != nil {
			t.Errorf("%s: %+v, %v", tc.path, res, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		a    catalog.Analyzer
		path string
		in   string
	}{
		{NodeHeader{}, "/usr/include/node/node_version.h", "#define X 1\n"},
		{NodeHeader{}, "/usr/include/node/node_version.h", "#define NODE_MAJOR_VERSION ../..\n"},
		{NodeBinary{}, "/usr/bin/node", "\x7fELFnode.js/v"},
		{Python{}, "/usr/include/python3.11/patchlevel.h", "#define PY_VERSION \"x y\"\n"},
		{Python{}, "/usr/include/python3.11/patchlevel.h", strings.Repeat("#", maxTextSize+1)},
		{Java{}, "/opt/jdk/release", "JAVA_VERSION=\"$(rm -rf /)\"\n"},
	} {
		if _, err := tc.a.Analyze(t.Context(), &catalog.File{Path: tc.path, Content: strings.NewReader(tc.in)}); err == nil {
			t.Errorf("%s: no error for %.40q", tc.path, tc.in)
		}
	}
}

func TestWants(t *testing.T) {
	for _, tc := range []struct {
		a    catalog.Analyzer
		path string
		mode os.FileMode
		want bool
	}{
		{NodeBinary{}, "/usr/local/bin/node", 0o755, true},
		{NodeBinary{}, "/usr/bin/nodejs", 0o755, true},
		{NodeBinary{}, "/usr/local/bin/node", 0o644, false},
		{NodeBinary{}, "/usr/local/lib/node_modules/npm/bin/node-gyp", 0o755, false},
		{NodeBinary{}, "/usr/include/node/node_version.h", 0o644, false},
		{NodeHeader{}, "/usr/include/node/node_version.h", 0o644, true},
		{Python{}, "/usr/include/python3.11/patchlevel.h", 0o644, true},
		{Python{}, "/usr/include/ruby/patchlevel.h", 0o644, false},
		{Java{}, "/opt/java/openjdk/release", 0o644, true},
		{Java{}, "/usr/lib/jvm/temurin-25-jdk-amd64/release", 0o644, true},
		{Java{}, "/etc/release", 0o644, false},
	} {
		if got := tc.a.Wants(tc.path, tc.mode, 1000); got != tc.want {
			t.Errorf("%s.Wants(%s) = %v", tc.a.Name(), tc.path, got)
		}
	}
}

func FuzzNodeBinary(f *testing.F) {
	langtest.Fuzz(f, NodeBinary{}, "/usr/bin/node", 0o755, read(f, "testdata/node-fragment.bin"))
}

func FuzzNodeHeader(f *testing.F) {
	langtest.Fuzz(f, NodeHeader{}, "/usr/include/node/node_version.h", 0o644, read(f, "testdata/node_version.h"))
}

func FuzzPython(f *testing.F) {
	langtest.Fuzz(f, Python{}, "/usr/include/python3.11/patchlevel.h", 0o644, read(f, "testdata/patchlevel.h"))
}

func FuzzJava(f *testing.F) {
	langtest.Fuzz(f, Java{}, "/opt/java/openjdk/release", 0o644, read(f, "testdata/release"))
}
