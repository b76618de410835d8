package npm

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/bounded"
)

// Pnpm reads pnpm-lock.yaml. Its "packages" keys name each resolved
// package: "/name/1.0.0_peer" (v5), "/name@1.0.0(peer)" (v6) and
// "name@1.0.0" (v9). Git, tarball and local packages carry no registry
// version and are skipped.
type Pnpm struct{}

var _ catalog.Analyzer = Pnpm{}

func (Pnpm) Name() string { return "pnpm-lock" }
func (Pnpm) Version() int { return 1 }

func (Pnpm) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxLockSize && base(path) == "pnpm-lock.yaml" && !insideNodeModules(path)
}

type pnpmLock struct {
	LockfileVersion string `yaml:"lockfileVersion"`
	Packages        map[string]struct {
		Name    string `yaml:"name"`
		Version string `yaml:"version"`
	} `yaml:"packages"`
}

func (Pnpm) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxLockSize)
	if err != nil {
		return nil, fmt.Errorf("pnpm-lock.yaml: %w", err)
	}
	var lf pnpmLock
	if err := yaml.Unmarshal(b, &lf); err != nil {
		return nil, fmt.Errorf("pnpm-lock.yaml: %w", err)
	}
	v5 := strings.HasPrefix(lf.LockfileVersion, "5") || strings.HasPrefix(lf.LockfileVersion, "4") ||
		strings.HasPrefix(lf.LockfileVersion, "3")
	keys := make([]string, 0, len(lf.Packages))
	for k := range lf.Packages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []catalog.Package
	seen := map[string]bool{}
	for _, k := range keys {
		e := lf.Packages[k]
		if e.Name != "" {
			continue // git or tarball source: no registry version
		}
		name, version := parsePnpmKey(k, v5)
		if version == "" || strings.ContainsAny(version, ":/") {
			continue
		}
		if !validName(name) {
			return nil, fmt.Errorf("pnpm-lock.yaml: invalid package name %q", name)
		}
		if id := name + "@" + version; !seen[id] {
			seen[id] = true
			out = append(out, newPackage(name, version, f.Path, nil))
		}
	}
	return &catalog.Result{Packages: out}, nil
}

func parsePnpmKey(k string, v5 bool) (name, version string) {
	k = strings.TrimPrefix(k, "/")
	start := 0
	if strings.HasPrefix(k, "@") {
		start = 1
	}
	if i := strings.IndexByte(k[start:], '@'); i >= 0 && !v5 {
		// v6 and v9: name@version(peer)(peer)
		name, version = k[:start+i], k[start+i+1:]
		version, _, _ = strings.Cut(version, "(")
		return name, version
	}
	// v5: name/version_peer, with @scope/name/version for scoped names.
	i := strings.LastIndexByte(k, '/')
	if i <= 0 {
		return "", ""
	}
	name, version = k[:i], k[i+1:]
	version, _, _ = strings.Cut(version, "_")
	return name, version
}
