package lang

import (
	"io/fs"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
)

// The app image's /srv/npmapp has package-lock.json and node_modules with
// the same 65 packages: after reconciling they count once.
func TestReconcileRealNpmApp(t *testing.T) {
	all := langtest.Tree(t, "npm/testdata/npmapp", "/srv/npmapp", Analyzers()...)
	if len(all) != 130 {
		t.Fatalf("analyzers found %d packages, want 65 installed + 65 locked", len(all))
	}
	got := Reconcile(all)
	if len(got) != 65 {
		t.Fatalf("reconciled to %d packages, want 65", len(got))
	}
	for _, p := range got {
		if IsLockfile(p.Paths[0]) {
			t.Errorf("lockfile package kept: %+v", p)
		}
	}
	inv := &catalog.Inventory{Packages: all}
	ReconcileInventory(inv)
	if len(inv.Packages) != 65 {
		t.Errorf("ReconcileInventory left %d packages", len(inv.Packages))
	}
	if m := langtest.Find(got, "minimist"); len(m) != 2 {
		t.Errorf("minimist = %+v, want 1.2.0 and nested 0.0.10", m)
	}
}

func pkg(purl, typ string, paths ...string) catalog.Package {
	return catalog.Package{Name: purl, PURL: purl, Type: typ, Paths: paths}
}

func TestReconcile(t *testing.T) {
	in := []catalog.Package{
		// A project without node_modules keeps its lockfile packages.
		pkg("pkg:npm/a@1", "npm", "/src/package-lock.json"),
		// requirements pin what site-packages already reports.
		pkg("pkg:pypi/requests@2.28.1", "python", "/app/requirements.txt"),
		pkg("pkg:pypi/flask@2.0.0", "python", "/app/requirements.txt"),
		pkg("pkg:pypi/requests@2.28.1", "python", "/usr/lib/python3/dist-packages/requests-2.28.1.egg-info/PKG-INFO"),
		// composer.lock beside vendor/ is shadowed entirely.
		pkg("pkg:composer/x/y@1.0.0", "composer", "/web/composer.lock"),
		pkg("pkg:composer/x/z@2.0.0", "composer", "/web/composer.lock"),
		pkg("pkg:composer/x/y@1.0.1", "composer", "/web/vendor/composer/installed.json"),
		// One runtime, two signals.
		pkg("pkg:generic/node@20.11.0", "runtime", "/usr/local/include/node/node_version.h"),
		pkg("pkg:generic/node@20.11.0", "runtime", "/usr/local/bin/node"),
	}
	got := Reconcile(in)
	want := []string{"pkg:npm/a@1", "pkg:pypi/flask@2.0.0", "pkg:pypi/requests@2.28.1", "pkg:composer/x/y@1.0.1", "pkg:generic/node@20.11.0"}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, p := range got {
		if p.PURL != want[i] {
			t.Errorf("%d: %s, want %s", i, p.PURL, want[i])
		}
	}
	if n := got[len(got)-1]; len(n.Paths) != 2 {
		t.Errorf("runtime paths %v", n.Paths)
	}
	if len(in[7].Paths) != 1 {
		t.Error("input modified")
	}
}

func TestAnalyzersDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range Analyzers() {
		if seen[a.Name()] || a.Version() < 1 {
			t.Errorf("analyzer %q duplicated or unversioned", a.Name())
		}
		seen[a.Name()] = true
	}
}

// Files wanted by two analyzers would be buffered by the catalog; the
// analyzers are arranged so that does not happen.
func TestOneAnalyzerPerFile(t *testing.T) {
	for _, f := range []struct {
		path string
		mode fs.FileMode
	}{
		{"/usr/local/bin/node", 0o755}, {"/usr/bin/app", 0o755}, {"/usr/local/go/VERSION", 0o644},
		{"/srv/node_modules/a/package.json", 0o644}, {"/srv/package-lock.json", 0o644},
		{"/srv/yarn.lock", 0o644}, {"/srv/pnpm-lock.yaml", 0o644},
		{"/usr/lib/python3/dist-packages/a-1.egg-info/PKG-INFO", 0o644}, {"/app/poetry.lock", 0o644},
		{"/app/Pipfile.lock", 0o644}, {"/app/requirements.txt", 0o644}, {"/usr/share/java/a.jar", 0o644}, {"/opt/app/app.jar", 0o755},
		{"/app/Cargo.lock", 0o644}, {"/usr/lib/ruby/gems/3.1.0/specifications/a-1.gemspec", 0o644},
		{"/app/Gemfile.lock", 0o644}, {"/app/vendor/composer/installed.json", 0o644},
		{"/app/composer.lock", 0o644}, {"/app/app.deps.json", 0o644},
		{"/usr/local/include/node/node_version.h", 0o644}, {"/usr/local/include/python3.11/patchlevel.h", 0o644},
		{"/opt/java/openjdk/release", 0o644},
	} {
		var names []string
		for _, a := range Analyzers() {
			if a.Wants(f.path, f.mode, 4096) {
				names = append(names, a.Name())
			}
		}
		if len(names) != 1 {
			t.Errorf("%s is wanted by %v, want exactly one analyzer", f.path, names)
		}
	}
}
