package python

import (
	"os"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
)

// dist-packages holds the four egg-info PKG-INFO files of the app image's
// /usr/lib/python3/dist-packages.
func TestEggInfoRealImage(t *testing.T) {
	pkgs := langtest.Tree(t, "testdata/dist-packages", "/usr/lib/python3/dist-packages", Metadata{})
	got := langtest.PURLs(pkgs)
	want := "pkg:pypi/certifi@2022.9.24 pkg:pypi/idna@3.3 pkg:pypi/requests@2.28.1 pkg:pypi/urllib3@1.26.12"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, p := range pkgs {
		if p.Ecosystem != catalog.PyPI || p.Type != "python" || !strings.HasSuffix(p.Paths[0], ".egg-info/PKG-INFO") {
			t.Errorf("bad package %+v", p)
		}
	}
	lic := map[string]string{"certifi": "MPL-2.0", "idna": "BSD-3-Clause", "requests": "Apache 2.0", "urllib3": "MIT"}
	for _, p := range pkgs {
		if strings.Join(p.Licenses, ",") != lic[p.Name] {
			t.Errorf("%s licenses %v, want %s", p.Name, p.Licenses, lic[p.Name])
		}
	}
}

func TestDistInfo(t *testing.T) {
	pkgs := langtest.Tree(t, "testdata/site-packages", "/usr/local/lib/python3.11/site-packages", Metadata{})
	got := map[string]string{}
	for _, p := range pkgs {
		got[p.PURL] = strings.Join(p.Licenses, ",")
	}
	want := map[string]string{
		"pkg:pypi/attrs@26.1.0": "MIT", // License-Expression
		"pkg:pypi/pyyaml@6.0":   "MIT",
		"pkg:pypi/crit@3.17.1":  "GPLv2", // egg-info as a single file
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: licenses %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if p := langtest.Find(pkgs, "PyYAML"); len(p) != 1 {
		t.Errorf("declared name not kept: %+v", pkgs)
	}
}

func TestMetadataClassifierLicense(t *testing.T) {
	in := "Metadata-Version: 2.1\nName: x\nVersion: 1\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: BSD License\nClassifier: License :: OSI Approved\n\nbody: x\n"
	res, err := langtest.Analyze(t, Metadata{}, "/a/x-1.dist-info/METADATA", 0o644, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if l := strings.Join(res.Packages[0].Licenses, ","); l != "BSD License" {
		t.Errorf("licenses %q", l)
	}
}

func TestMetadataBadInput(t *testing.T) {
	for _, in := range []string{
		"", "Name: x\n", "Version: 1\n", "Name: ../x\nVersion: 1\n", "Name: x\nVersion: 1 2\n",
		"garbage line\n", "Name: x\nVersion: " + strings.Repeat("1", maxLineSize) + "\n",
		strings.Repeat("Classifier: x\n", maxHeaderSize/14+1),
	} {
		f := &catalog.File{Path: "/a/x.dist-info/METADATA", Content: strings.NewReader(in)}
		if _, err := (Metadata{}).Analyze(t.Context(), f); err == nil {
			t.Errorf("no error for %.40q", in)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"PyYAML": "pyyaml", "zope.interface": "zope-interface", "Foo__Bar-.baz": "foo-bar-baz", "a": "a",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestLockfiles(t *testing.T) {
	for _, tc := range []struct {
		file, path string
		a          catalog.Analyzer
		want       string
	}{
		{"poetry.lock", "/app/poetry.lock", Poetry{},
			"pkg:pypi/certifi@2022.9.24 pkg:pypi/pyyaml@6.0 pkg:pypi/zope-interface@5.5.2"},
		{"Pipfile.lock", "/app/Pipfile.lock", Pipfile{},
			"pkg:pypi/idna@3.3 pkg:pypi/pytest@7.2.0 pkg:pypi/requests@2.28.1"},
		{"requirements.txt", "/app/requirements-prod.txt", Requirements{},
			"pkg:pypi/certifi@2022.9.24 pkg:pypi/requests@2.28.1 pkg:pypi/urllib3@1.26.12 pkg:pypi/zope-interface@5.5.2"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/lock/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := langtest.Analyze(t, tc.a, tc.path, 0o644, b)
			if err != nil {
				t.Fatal(err)
			}
			if got := langtest.PURLs(res.Packages); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestLockBadInput(t *testing.T) {
	for _, tc := range []struct {
		a  catalog.Analyzer
		in string
	}{
		{Poetry{}, "[[package]\n"}, {Poetry{}, "[[package]]\nname = \"a b\"\nversion = \"1\"\n"},
		{Pipfile{}, "{"}, {Pipfile{}, `{"default":{"a b":{"version":"==1"}}}`},
		{Requirements{}, strings.Repeat("a", maxLineSize+1)},
		{Requirements{}, strings.Repeat(strings.Repeat("a", 1000)+"\\\n", 100)},
	} {
		if _, err := tc.a.Analyze(t.Context(), &catalog.File{Path: "/a", Content: strings.NewReader(tc.in)}); err == nil {
			t.Errorf("%s: no error for %.40q", tc.a.Name(), tc.in)
		}
	}
}

func TestWants(t *testing.T) {
	for _, tc := range []struct {
		a    catalog.Analyzer
		path string
		want bool
	}{
		{Metadata{}, "/usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO", true},
		{Metadata{}, "/usr/lib/python3.11/site-packages/a-1.dist-info/METADATA", true},
		{Metadata{}, "/usr/lib/python3.11/site-packages/a-1.egg-info", true},
		{Metadata{}, "/usr/lib/python3.11/site-packages/a-1.egg/EGG-INFO/PKG-INFO", true},
		{Metadata{}, "/usr/lib/python3.11/site-packages/a-1.dist-info/RECORD", false},
		{Requirements{}, "/app/requirements.txt", true},
		{Requirements{}, "/app/requirements-dev.txt", true},
		{Requirements{}, "/app/dev-requirements.in", false},
		{Poetry{}, "/app/poetry.lock", true},
		{Pipfile{}, "/app/Pipfile.lock", true},
		{Pipfile{}, "/app/Pipfile", false},
	} {
		if got := tc.a.Wants(tc.path, 0o644, 100); got != tc.want {
			t.Errorf("%s.Wants(%s) = %v", tc.a.Name(), tc.path, got)
		}
	}
}

func FuzzMetadata(f *testing.F) {
	langtest.Fuzz(f, Metadata{}, "/a/x.dist-info/METADATA", 0o644,
		langtest.Seed(f, "testdata/dist-packages/requests-2.28.1.egg-info/PKG-INFO"),
		langtest.Seed(f, "testdata/site-packages/attrs-26.1.0.dist-info/METADATA"))
}

func FuzzPoetry(f *testing.F) {
	langtest.Fuzz(f, Poetry{}, "/a/poetry.lock", 0o644, langtest.Seed(f, "testdata/lock/poetry.lock"))
}

func FuzzPipfile(f *testing.F) {
	langtest.Fuzz(f, Pipfile{}, "/a/Pipfile.lock", 0o644, langtest.Seed(f, "testdata/lock/Pipfile.lock"))
}

func FuzzRequirements(f *testing.F) {
	langtest.Fuzz(f, Requirements{}, "/a/requirements.txt", 0o644, langtest.Seed(f, "testdata/lock/requirements.txt"))
}
