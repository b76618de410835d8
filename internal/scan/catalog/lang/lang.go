package lang

import (
	"path"
	"strings"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/dotnet"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/golang"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/java"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/npm"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/php"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/python"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/ruby"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/runtime"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/rust"
)

// Analyzers returns every language analyzer, in a fixed order. No two of
// them want the same file, so the catalog can stream each file to its one
// analyzer rather than buffer it.
func Analyzers() []catalog.Analyzer {
	return []catalog.Analyzer{
		Executables{}, golang.Toolchain{},
		npm.Installed{}, npm.Lock{}, npm.Yarn{}, npm.Pnpm{},
		python.Metadata{}, python.Poetry{}, python.Pipfile{}, python.Requirements{},
		java.Archive{},
		rust.Lock{},
		ruby.Gemspec{}, ruby.GemfileLock{},
		php.Installed{}, php.Lock{},
		dotnet.Deps{},
		runtime.NodeHeader{}, runtime.Python{}, runtime.Java{},
	}
}

// installDir names the directory beside a lockfile where its package
// manager installs what the lockfile pins ("" when there is none).
func installDir(lockfile string) (dir string, ok bool) {
	switch lockfile {
	case "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml":
		return "node_modules", true
	case "composer.lock", "Gemfile.lock":
		return "vendor", true
	case "poetry.lock", "Pipfile.lock":
		return ".venv", true
	case "Cargo.lock":
		return "", true
	}
	return "", false
}

// IsLockfile reports whether p names a file that declares dependencies
// rather than recording installed ones.
func IsLockfile(p string) bool {
	b := path.Base(p)
	if _, ok := installDir(b); ok {
		return true
	}
	return strings.HasPrefix(b, "requirements") && strings.HasSuffix(b, ".txt")
}

// Reconcile takes an image's squashed packages and removes double counts
// between lockfiles and installed packages:
//
//   - a lockfile's packages are dropped when installed packages of its
//     ecosystem were read from the install directory beside it
//     (node_modules for npm, yarn and pnpm, vendor for composer and
//     bundler, .venv for poetry and pipenv);
//   - any other lockfile package is dropped when an installed package
//     with the same purl was found anywhere;
//   - runtimes found through several files (a header and a binary) are
//     merged into one package listing all paths.
//
// Order is kept; pkgs is not modified.
func Reconcile(pkgs []catalog.Package) []catalog.Package {
	installedPURL := map[string]bool{}
	var installedPaths []string
	for _, p := range pkgs {
		if len(p.Paths) > 0 && !IsLockfile(p.Paths[0]) {
			installedPURL[p.PURL] = true
			installedPaths = append(installedPaths, p.Paths...)
		}
	}
	// Which lockfiles have their installed tree beside them.
	shadowed := map[string]bool{}
	for _, p := range pkgs {
		if len(p.Paths) == 0 || !IsLockfile(p.Paths[0]) {
			continue
		}
		lock := p.Paths[0]
		if _, done := shadowed[lock]; done {
			continue
		}
		shadowed[lock] = false
		dir, _ := installDir(path.Base(lock))
		if dir == "" {
			continue
		}
		prefix := path.Join(path.Dir(lock), dir) + "/"
		for _, ip := range installedPaths {
			if strings.HasPrefix(ip, prefix) {
				shadowed[lock] = true
				break
			}
		}
	}
	out := make([]catalog.Package, 0, len(pkgs))
	runtimes := map[string]int{} // purl → index in out
	for _, p := range pkgs {
		if len(p.Paths) > 0 && IsLockfile(p.Paths[0]) && (shadowed[p.Paths[0]] || installedPURL[p.PURL]) {
			continue
		}
		if p.Type == "runtime" {
			if i, ok := runtimes[p.PURL]; ok {
				out[i].Paths = append(append([]string{}, out[i].Paths...), p.Paths...)
				continue
			}
			runtimes[p.PURL] = len(out)
		}
		out = append(out, p)
	}
	return out
}

// ReconcileInventory applies Reconcile to an inventory; it is meant for
// catalog.WithPostProcess.
func ReconcileInventory(inv *catalog.Inventory) {
	inv.Packages = Reconcile(inv.Packages)
}
