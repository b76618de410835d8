package apk_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/os/apk"
)

func TestParse(t *testing.T) {
	f, err := os.Open("testdata/installed")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := apk.Analyzer{}.Analyze(context.Background(), &catalog.File{Path: "/lib/apk/db/installed", Content: f})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Packages {
		got = append(got, p.Name+"@"+p.Version+" src="+p.SourceName+" lic="+strings.Join(p.Licenses, "|")+" "+p.PURL)
	}
	want := []string{
		"musl@1.2.4-r2 src= lic=MIT pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64",
		"libcrypto3@3.1.4-r1 src=openssl lic=Apache-2.0 pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64",
		"busybox@1.36.1-r15 src= lic=GPL-2.0-only pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, o := range []string{"/lib/ld-musl-x86_64.so.1", "/etc/ssl/openssl.cnf", "/usr/lib/libcrypto.so.3", "/bin/busybox", "/etc/ssl"} {
		if !slices.Contains(res.Owned, o) {
			t.Errorf("%s not owned: %v", o, res.Owned)
		}
	}
}

func TestMalformed(t *testing.T) {
	pkgs, _, err := apk.Parse(strings.NewReader("P:noversion\n\nthis is not apk\nV:1\n\nP:ok\nV:2\nR:../../etc/passwd\n"))
	if !errors.Is(err, apk.ErrMalformed) {
		t.Errorf("err = %v", err)
	}
	if len(pkgs) != 1 || pkgs[0].Name != "ok" {
		t.Errorf("pkgs = %+v", pkgs)
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/installed"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("P:a\nV:1\nF:../..\nR:x\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, owned, _ := apk.Parse(bytes.NewReader(b))
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("package without name or version: %+v", p)
			}
		}
		for _, o := range owned {
			if !strings.HasPrefix(o, "/") || strings.Contains(o, "/../") {
				t.Fatalf("owned path %q not clean and absolute", o)
			}
		}
	})
}
