package npm

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
)

// The npmapp tree is the package.json files and package-lock.json of
// /srv/npmapp in the app image: 65 installed packages.
func TestInstalledRealTree(t *testing.T) {
	pkgs := langtest.Tree(t, "testdata/npmapp", "/srv/npmapp", Installed{})
	if len(pkgs) != 65 {
		t.Fatalf("found %d installed packages, want 65", len(pkgs))
	}
	want := map[string]string{
		"/srv/npmapp/node_modules/lodash/package.json":                         "pkg:npm/lodash@4.17.15",
		"/srv/npmapp/node_modules/minimist/package.json":                       "pkg:npm/minimist@1.2.0",
		"/srv/npmapp/node_modules/optimist/node_modules/minimist/package.json": "pkg:npm/minimist@0.0.10",
		"/srv/npmapp/node_modules/express/package.json":                        "pkg:npm/express@4.16.0",
		"/srv/npmapp/node_modules/qs/package.json":                             "pkg:npm/qs@6.5.1",
		"/srv/npmapp/node_modules/jquery/package.json":                         "pkg:npm/jquery@3.4.0",
		"/srv/npmapp/node_modules/moment/package.json":                         "pkg:npm/moment@2.29.1",
		"/srv/npmapp/node_modules/handlebars/package.json":                     "pkg:npm/handlebars@4.5.2",
	}
	for _, p := range pkgs {
		if p.Ecosystem != catalog.Npm || p.Type != "npm" || len(p.Paths) != 1 {
			t.Errorf("bad package %+v", p)
		}
		if purl, ok := want[p.Paths[0]]; ok {
			if p.PURL != purl {
				t.Errorf("%s: purl %s, want %s", p.Paths[0], p.PURL, purl)
			}
			delete(want, p.Paths[0])
		}
	}
	for path := range want {
		t.Errorf("no package from %s", path)
	}
	if l := langtest.Find(pkgs, "lodash"); len(l) != 1 || strings.Join(l[0].Licenses, ",") != "MIT" {
		t.Errorf("lodash licenses = %+v", l)
	}
}

func TestInstalledWants(t *testing.T) {
	for path, want := range map[string]bool{
		"/app/node_modules/a/package.json":                      true,
		"/app/node_modules/@types/node/package.json":            true,
		"/app/node_modules/a/node_modules/b/package.json":       true,
		"/app/node_modules/@s/n/node_modules/@t/m/package.json": true,
		"/app/package.json":                                     false,
		"/app/node_modules/a/lib/package.json":                  false,
		"/app/node_modules/@types/package.json":                 false,
		"/app/node_modules/.bin/package.json":                   false,
		"/app/node_modules/a/package.json.bak":                  false,
	} {
		if got := (Installed{}).Wants(path, 0o644, 100); got != want {
			t.Errorf("Wants(%s) = %v, want %v", path, got, want)
		}
	}
}

func TestInstalledLicenseForms(t *testing.T) {
	for in, want := range map[string]string{
		`{"name":"a","version":"1.0.0","license":"MIT"}`:                                      "MIT",
		`{"name":"a","version":"1.0.0","license":{"type":"ISC","url":"x"}}`:                   "ISC",
		`{"name":"a","version":"1.0.0","licenses":[{"type":"MIT"},{"type":"Apache-2.0"}]}`:    "MIT,Apache-2.0",
		`{"name":"a","version":"1.0.0","licenses":["BSD-2-Clause"]}`:                          "BSD-2-Clause",
		`{"name":"a","version":"1.0.0","license":null}`:                                       "",
		`{"name":"@s/a","version":"1.0.0","license":[["nested"]],"licenses":{"type":"0BSD"}}`: "0BSD",
	} {
		res, err := langtest.Analyze(t, Installed{}, "/x/node_modules/a/package.json", 0o644, []byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := strings.Join(res.Packages[0].Licenses, ","); got != want {
			t.Errorf("%s: licenses %q, want %q", in, got, want)
		}
	}
}

func TestInstalledBadInput(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[]`, `{"name":"a"}`, `{"name":"a b","version":"1"}`, `{"name":"../../x","version":"1"}`,
		`{"version": 5}`,
		`{"name":"a","version":"1","x":"` + strings.Repeat("a", maxManifestSize) + `"}`,
	} {
		if _, err := (Installed{}).Analyze(t.Context(), file("/x/node_modules/a/package.json", in)); err == nil {
			t.Errorf("no error for %.40q", in)
		}
	}
}

func TestLockRealV3(t *testing.T) {
	pkgs := langtest.Tree(t, "testdata/npmapp", "/srv/npmapp", Lock{})
	if len(pkgs) != 65 {
		t.Fatalf("found %d locked packages, want 65", len(pkgs))
	}
	installed := langtest.Tree(t, "testdata/npmapp", "/srv/npmapp", Installed{})
	if a, b := langtest.PURLs(pkgs), langtest.PURLs(installed); a != b {
		t.Errorf("lockfile and installed tree differ:\n%s\n%s", a, b)
	}
}

func TestLockfiles(t *testing.T) {
	for _, tc := range []struct {
		file, path string
		a          catalog.Analyzer
		want       string
	}{
		{"package-lock-v1.json", "/app/package-lock.json", Lock{},
			"pkg:npm/minimist@0.0.10 pkg:npm/minimist@1.2.0 pkg:npm/optimist@0.6.1 pkg:npm/wordwrap@0.0.3"},
		{"yarn-v1.lock", "/app/yarn.lock", Yarn{},
			"pkg:npm/%40babel/code-frame@7.12.13 pkg:npm/lodash@4.17.15 pkg:npm/minimist@0.0.10 pkg:npm/minimist@1.2.0"},
		{"yarn-berry.lock", "/app/yarn.lock", Yarn{},
			"pkg:npm/%40babel/code-frame@7.12.13 pkg:npm/lodash@4.17.15 pkg:npm/resolve@1.22.1"},
		{"pnpm-v5.yaml", "/app/pnpm-lock.yaml", Pnpm{},
			"pkg:npm/%40types/node@18.11.9 pkg:npm/express@4.16.0 pkg:npm/react-dom@17.0.2"},
		{"pnpm-v6.yaml", "/app/pnpm-lock.yaml", Pnpm{},
			"pkg:npm/%40types/node@18.11.9 pkg:npm/express@4.16.0 pkg:npm/react-dom@17.0.2"},
		{"pnpm-v9.yaml", "/app/pnpm-lock.yaml", Pnpm{},
			"pkg:npm/%40types/node@18.11.9 pkg:npm/express@4.16.0 pkg:npm/react-dom@17.0.2"},
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
			for _, p := range res.Packages {
				if p.Paths[0] != tc.path {
					t.Errorf("path %v", p.Paths)
				}
			}
		})
	}
}

func TestLockWants(t *testing.T) {
	for _, tc := range []struct {
		a    catalog.Analyzer
		path string
		want bool
	}{
		{Lock{}, "/app/package-lock.json", true},
		{Lock{}, "/app/npm-shrinkwrap.json", true},
		{Lock{}, "/app/node_modules/.package-lock.json", false},
		{Lock{}, "/app/node_modules/a/package-lock.json", false},
		{Yarn{}, "/app/yarn.lock", true},
		{Yarn{}, "/app/node_modules/a/yarn.lock", false},
		{Pnpm{}, "/app/pnpm-lock.yaml", true},
		{Pnpm{}, "/app/pnpm-lock.yml", false},
	} {
		if got := tc.a.Wants(tc.path, 0o644, 10); got != tc.want {
			t.Errorf("%s.Wants(%s) = %v", tc.a.Name(), tc.path, got)
		}
	}
}

func TestLockBadInput(t *testing.T) {
	deep := strings.Repeat(`{"dependencies":{"a":{"version":"1",`, maxLockDepth+2) + strings.Repeat("}}}", maxLockDepth+2)
	for _, tc := range []struct {
		a  catalog.Analyzer
		in string
	}{
		{Lock{}, ``}, {Lock{}, `{"packages":[]}`}, {Lock{}, deep},
		{Lock{}, `{"packages":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`},
		{Lock{}, `{"packages":{"node_modules/a b":{"version":"1"}}}`},
		{Yarn{}, "a@1:\n  version \"1\"\nnot a header\n"},
		{Yarn{}, "\"a b@1\":\n  version \"1\"\n"},
		{Yarn{}, "a@^1:\n  resolved \"x\"\n"},
		{Yarn{}, "a@1:\n  version \"" + strings.Repeat("1", maxLineSize) + "\"\n"},
		{Pnpm{}, "packages: [1, 2"},
		{Pnpm{}, "packages:\n  /a b@1.0.0: {}\n"},
	} {
		if _, err := tc.a.Analyze(t.Context(), file("/app/lock", tc.in)); err == nil {
			t.Errorf("%s: no error for %.60q", tc.a.Name(), tc.in)
		}
	}
}

func TestPnpmAliasBomb(t *testing.T) {
	doc := "lockfileVersion: '9.0'\na: &a [x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'z'; i++ {
		doc += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	doc += "packages:\n  zz: *z\n"
	if _, err := (Pnpm{}).Analyze(t.Context(), file("/a/pnpm-lock.yaml", doc)); err == nil {
		t.Fatal("alias bomb accepted")
	}
}

func FuzzInstalled(f *testing.F) {
	langtest.Fuzz(f, Installed{}, "/a/node_modules/x/package.json", 0o644,
		langtest.Seed(f, "testdata/npmapp/node_modules/express/package.json"),
		langtest.Seed(f, "testdata/npmapp/node_modules/optimist/node_modules/minimist/package.json"))
}

func FuzzLock(f *testing.F) {
	langtest.Fuzz(f, Lock{}, "/a/package-lock.json", 0o644,
		langtest.Seed(f, "testdata/npmapp/package-lock.json"),
		langtest.Seed(f, "testdata/lock/package-lock-v1.json"))
}

func FuzzYarn(f *testing.F) {
	langtest.Fuzz(f, Yarn{}, "/a/yarn.lock", 0o644,
		langtest.Seed(f, "testdata/lock/yarn-v1.lock"),
		langtest.Seed(f, "testdata/lock/yarn-berry.lock"))
}

func FuzzPnpm(f *testing.F) {
	langtest.Fuzz(f, Pnpm{}, "/a/pnpm-lock.yaml", 0o644,
		langtest.Seed(f, "testdata/lock/pnpm-v5.yaml"),
		langtest.Seed(f, "testdata/lock/pnpm-v6.yaml"),
		langtest.Seed(f, "testdata/lock/pnpm-v9.yaml"))
}

func file(path, content string) *catalog.File {
	return &catalog.File{Path: path, Size: int64(len(content)), Content: strings.NewReader(content)}
}
