package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/bounded"
)

// maxLockDepth bounds the nesting of a lockfileVersion 1 dependency tree.
const maxLockDepth = 256

// Lock reads package-lock.json and npm-shrinkwrap.json, lockfileVersion 1
// (nested "dependencies") and 2–3 ("packages" keyed by install path).
type Lock struct{}

var _ catalog.Analyzer = Lock{}

func (Lock) Name() string { return "npm-lock" }
func (Lock) Version() int { return 1 }

func (Lock) Wants(path string, _ fs.FileMode, size int64) bool {
	if size > maxLockSize {
		return false
	}
	b := base(path)
	return (b == "package-lock.json" || b == "npm-shrinkwrap.json") && !insideNodeModules(path)
}

// lockEntry is an entry of "packages" (lockfileVersion 2 and 3).
type lockEntry struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	License json.RawMessage `json:"license"`
	Link    bool            `json:"link"`
}

// treeEntry is an entry of the "dependencies" tree (lockfileVersion 1).
type treeEntry struct {
	Version      string               `json:"version"`
	Dependencies map[string]treeEntry `json:"dependencies"`
}

type lockFile struct {
	Packages     map[string]lockEntry `json:"packages"`
	Dependencies map[string]treeEntry `json:"dependencies"`
}

func (Lock) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxLockSize)
	if err != nil {
		return nil, fmt.Errorf("npm lockfile: %w", err)
	}
	var lf lockFile
	if err := json.Unmarshal(b, &lf); err != nil {
		return nil, fmt.Errorf("npm lockfile: %w", err)
	}
	var pkgs []catalog.Package
	if len(lf.Packages) > 0 {
		pkgs, err = fromPackages(lf.Packages, f.Path)
	} else {
		pkgs, err = fromDependencies(lf.Dependencies, f.Path, 0, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("npm lockfile: %w", err)
	}
	return &catalog.Result{Packages: pkgs}, nil
}

// fromPackages reads lockfileVersion 2 and 3, where each key is the
// install location ("node_modules/a/node_modules/b"); "" is the project and
// keys outside node_modules are workspace members, neither a dependency.
func fromPackages(m map[string]lockEntry, path string) ([]catalog.Package, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []catalog.Package
	for _, k := range keys {
		e := m[k]
		i := strings.LastIndex(k, "node_modules/")
		if i < 0 || e.Link {
			continue
		}
		name := e.Name
		if name == "" {
			name = k[i+len("node_modules/"):]
		}
		if !validName(name) {
			return nil, fmt.Errorf("invalid package name %q at %q", name, k)
		}
		if e.Version == "" {
			continue // not installed on this platform or a bare link
		}
		out = append(out, newPackage(name, e.Version, path, licenses(e.License)))
	}
	return out, nil
}

// fromDependencies walks a lockfileVersion 1 tree. Dependencies with the
// same name and version at several places count once per place, as they
// are installed once per place.
func fromDependencies(m map[string]treeEntry, path string, depth int, out []catalog.Package) ([]catalog.Package, error) {
	if depth > maxLockDepth {
		return nil, fmt.Errorf("dependency tree deeper than %d", maxLockDepth)
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		e := m[name]
		if !validName(name) {
			return nil, fmt.Errorf("invalid package name %q", name)
		}
		// Aliases ("npm:real@1.0.0") and git or file sources carry no
		// registry version to report.
		if e.Version != "" && !strings.Contains(e.Version, ":") {
			out = append(out, newPackage(name, e.Version, path, nil))
		}
		var err error
		if out, err = fromDependencies(e.Dependencies, path, depth+1, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}
