package ruby

import (
	"os"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
)

func TestGemspecs(t *testing.T) {
	pkgs := langtest.Tree(t, "testdata/specifications", "/usr/local/bundle/specifications", Gemspec{})
	want := "pkg:gem/json@2.6.1 pkg:gem/nokogiri@1.13.10 pkg:gem/rack@2.2.4"
	if got := langtest.PURLs(pkgs); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	lic := map[string]string{"rack": "MIT", "json": "Ruby,BSD-2-Clause", "nokogiri": ""}
	for _, p := range pkgs {
		if strings.Join(p.Licenses, ",") != lic[p.Name] || p.Ecosystem != catalog.RubyGems || p.Type != "gem" {
			t.Errorf("bad package %+v", p)
		}
	}
}

func TestGemfileLock(t *testing.T) {
	b, err := os.ReadFile("testdata/Gemfile.lock")
	if err != nil {
		t.Fatal(err)
	}
	res, err := langtest.Analyze(t, GemfileLock{}, "/app/Gemfile.lock", 0o644, b)
	if err != nil {
		t.Fatal(err)
	}
	want := "pkg:gem/activesupport@7.1.0.alpha pkg:gem/concurrent-ruby@1.1.10 pkg:gem/mini_portile2@2.8.0 pkg:gem/myapp@0.1.0 pkg:gem/nokogiri@1.13.10 pkg:gem/racc@1.6.0 pkg:gem/rack@2.2.4"
	if got := langtest.PURLs(res.Packages); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		a    catalog.Analyzer
		path string
		in   string
	}{
		{Gemspec{}, "/s/specifications/x.gemspec", "s.name = \"x\"\n"},
		{Gemspec{}, "/s/specifications/x.gemspec", "s.name = \"a b\"\ns.version = \"1\"\n"},
		{Gemspec{}, "/s/specifications/x-1.gemspec", strings.Repeat("x", maxLineSize+1)},
		{GemfileLock{}, "/a/Gemfile.lock", "GEM\n  specs:\n    rack 2.2.4\n"},
		{GemfileLock{}, "/a/Gemfile.lock", "GEM\n  specs:\n    ra ck (2.2.4)\n"},
	} {
		if _, err := tc.a.Analyze(t.Context(), &catalog.File{Path: tc.path, Content: strings.NewReader(tc.in)}); err == nil {
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
		{Gemspec{}, "/usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec", true},
		{Gemspec{}, "/usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec", true},
		{Gemspec{}, "/app/myapp.gemspec", false},
		{GemfileLock{}, "/app/Gemfile.lock", true},
		{GemfileLock{}, "/app/Gemfile", false},
	} {
		if got := tc.a.Wants(tc.path, 0o644, 100); got != tc.want {
			t.Errorf("%s.Wants(%s) = %v", tc.a.Name(), tc.path, got)
		}
	}
}

func FuzzGemspec(f *testing.F) {
	langtest.Fuzz(f, Gemspec{}, "/s/specifications/x-1.0.gemspec", 0o644, langtest.Seed(f, "testdata/specifications/rack-2.2.4.gemspec"))
}

func FuzzGemfileLock(f *testing.F) {
	langtest.Fuzz(f, GemfileLock{}, "/a/Gemfile.lock", 0o644, langtest.Seed(f, "testdata/Gemfile.lock"))
}
