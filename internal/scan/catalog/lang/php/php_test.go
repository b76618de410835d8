package php

import (
	"os"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
)

func TestInstalled(t *testing.T) {
	for dir, want := range map[string]string{
		"testdata/v1": "pkg:composer/monolog/monolog@1.25.1 pkg:composer/twig/twig@2.12.5",
		"testdata/v2": "pkg:composer/guzzlehttp/psr7@1.8.2 pkg:composer/symfony/http-kernel@5.4.20",
	} {
		pkgs := langtest.Tree(t, dir, "/var/www", Installed{})
		if got := langtest.PURLs(pkgs); got != want {
			t.Errorf("%s: got %s, want %s", dir, got, want)
		}
		for _, p := range pkgs {
			if len(p.Licenses) != 1 || p.Ecosystem != catalog.Packagist || p.Paths[0] != "/var/www/vendor/composer/installed.json" {
				t.Errorf("bad package %+v", p)
			}
		}
	}
}

func TestLock(t *testing.T) {
	b, err := os.ReadFile("testdata/composer.lock")
	if err != nil {
		t.Fatal(err)
	}
	res, err := langtest.Analyze(t, Lock{}, "/var/www/composer.lock", 0o644, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := langtest.PURLs(res.Packages), "pkg:composer/guzzlehttp/psr7@1.8.2 pkg:composer/phpunit/phpunit@9.5.27"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if (Lock{}).Wants("/var/www/vendor/x/y/composer.lock", 0o644, 10) {
		t.Error("a dependency's own lockfile wanted")
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		a  catalog.Analyzer
		in string
	}{
		{Installed{}, ""}, {Installed{}, "[{"}, {Installed{}, `[{"name":"novendor","version":"1"}]`},
		{Installed{}, `{"packages":[{"name":"a/b","version":""}]}`},
		{Lock{}, `{"packages":[{"name":"a/b/c","version":"1"}]}`}, {Lock{}, `{"packages":{}}`},
	} {
		if _, err := tc.a.Analyze(t.Context(), &catalog.File{Path: "/x", Content: strings.NewReader(tc.in)}); err == nil {
			t.Errorf("%s: no error for %q", tc.a.Name(), tc.in)
		}
	}
}

func FuzzInstalled(f *testing.F) {
	langtest.Fuzz(f, Installed{}, "/v/vendor/composer/installed.json", 0o644,
		langtest.Seed(f, "testdata/v1/vendor/composer/installed.json"),
		langtest.Seed(f, "testdata/v2/vendor/composer/installed.json"))
}

func FuzzLock(f *testing.F) {
	langtest.Fuzz(f, Lock{}, "/v/composer.lock", 0o644, langtest.Seed(f, "testdata/composer.lock"))
}
