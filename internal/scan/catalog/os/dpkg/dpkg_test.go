package dpkg_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/os/dpkg"
)

const realStatus = "../../testdata/fixture-src/1-debian/var/lib/dpkg/status"

func TestParseRealStatus(t *testing.T) {
	b, err := os.ReadFile(realStatus)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := dpkg.ParseStatus(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 88 {
		t.Fatalf("%d packages, want 88", len(pkgs))
	}
	byName := map[string]catalog.Package{}
	for _, p := range pkgs {
		byName[p.Name] = p
	}
	libc := byName["libc6"]
	if libc.SourceName != "glibc" || libc.Version == "" || libc.Type != "deb" || libc.Ecosystem != catalog.Debian {
		t.Errorf("libc6 = %+v", libc)
	}
	if u, err := packageurl.FromString(libc.PURL); err != nil || u.Type != "deb" || u.Namespace != "debian" ||
		u.Name != "libc6" || u.Version != libc.Version || u.Qualifiers.Map()["arch"] != "amd64" {
		t.Errorf("libc6 purl %q", libc.PURL)
	}
	// "Source: bash (5.2.15-2)": the binary version differs from the source's.
	if b := byName["bash"]; b.SourceName != "" || b.SourceVersion != "5.2.15-2" {
		t.Errorf("bash source = %q %q", b.SourceName, b.SourceVersion)
	}
	if a := byName["adduser"]; a.SourceName != "" || a.SourceVersion != "" {
		t.Errorf("adduser has no Source field, got %q %q", a.SourceName, a.SourceVersion)
	}
}

func TestStatusEdgeCases(t *testing.T) {
	in := `Package: gone
Status: deinstall ok config-files
Version: 1.0

Package: half
Status: install ok half-configured
Version: 2.0
Architecture: arm64
Description: first line
 continued line
 .

Version: 3.0
Status: install ok installed

Package: noversion
Status: install ok installed

garbage line without colon
Package: ok
Status: install ok installed
Version: 1:4.0-1
Source: src-ok (1:4.0)
`
	pkgs, err := dpkg.ParseStatus(strings.NewReader(in))
	if !errors.Is(err, dpkg.ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed", err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name+"="+p.Version+"/"+p.SourceName+"/"+p.SourceVersion)
	}
	want := "half=2.0//,ok=1:4.0-1/src-ok/1:4.0"
	if strings.Join(got, ",") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestAnalyzer(t *testing.T) {
	a := dpkg.Analyzer{}
	wants := map[string]bool{
		"/var/lib/dpkg/status":                true,
		"/var/lib/dpkg/status-old":            false,
		"/var/lib/dpkg/status.d/base":         true,
		"/var/lib/dpkg/status.d/base.md5sums": true,
		"/var/lib/dpkg/status.d/x/y":          false,
		"/var/lib/dpkg/info/libc6:amd64.list": true,
		"/var/lib/dpkg/info/libc6.md5sums":    false,
		"/usr/var/lib/dpkg/status":            false,
	}
	for p, want := range wants {
		if got := a.Wants(p, 0o644, 10); got != want {
			t.Errorf("Wants(%s) = %v", p, got)
		}
	}
	ctx := context.Background()
	// Distroless: one paragraph per file, no Status field.
	res, err := a.Analyze(ctx, &catalog.File{Path: "/var/lib/dpkg/status.d/tzdata", Content: strings.NewReader("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")})
	if err != nil || len(res.Packages) != 1 || res.Packages[0].Paths[0] != "/var/lib/dpkg/status.d/tzdata" {
		t.Fatalf("distroless: %+v %v", res, err)
	}
	res, err = a.Analyze(ctx, &catalog.File{Path: "/var/lib/dpkg/status.d/tzdata.md5sums", Content: strings.NewReader("d41d8cd98f00b204e9800998ecf8427e  usr/share/zoneinfo/UTC\n")})
	if err != nil || len(res.Owned) != 1 || res.Owned[0] != "/usr/share/zoneinfo/UTC" {
		t.Fatalf("md5sums: %+v %v", res, err)
	}
	list, err := os.ReadFile("../../testdata/fixture-src/1-debian/var/lib/dpkg/info/bash.list")
	if err != nil {
		t.Fatal(err)
	}
	res, err = a.Analyze(ctx, &catalog.File{Path: "/var/lib/dpkg/info/bash.list", Content: bytes.NewReader(list)})
	if err != nil || !contains(res.Owned, "/bin/bash") || contains(res.Owned, "/.") {
		t.Fatalf("bash.list: %v %v", res.Owned, err)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func FuzzParseStatus(f *testing.F) {
	if b, err := os.ReadFile(realStatus); err == nil {
		f.Add(b[:4096])
	}
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (2)\n\n"))
	f.Add([]byte(" \n:\n\n\nPackage:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, _ := dpkg.ParseStatus(bytes.NewReader(b))
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("package without name or version: %+v", p)
			}
		}
		_, _ = dpkg.ReadList(bytes.NewReader(b), true)
	})
}
