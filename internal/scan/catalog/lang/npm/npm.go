package npm

import (
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

const (
	maxManifestSize = 4 << 20
	maxLockSize     = 64 << 20
)

// newPackage builds an npm package; name may carry an @scope.
func newPackage(name, version, path string, licenses []string) catalog.Package {
	ns, n := "", name
	if strings.HasPrefix(name, "@") {
		if i := strings.IndexByte(name, '/'); i > 0 {
			ns, n = name[:i], name[i+1:]
		}
	}
	return catalog.Package{
		Ecosystem: catalog.Npm,
		Name:      name,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeNPM, ns, n, version, nil, "").ToString(),
		Licenses:  licenses,
		Type:      "npm",
		Paths:     []string{path},
	}
}

// validName rejects names that cannot be npm package names, which appear in
// corrupted or hostile manifests.
func validName(name string) bool {
	if name == "" || len(name) > 214 || strings.ContainsAny(name, " \t\r\n\\") {
		return false
	}
	if strings.HasPrefix(name, "@") {
		i := strings.IndexByte(name, '/')
		return i > 1 && i < len(name)-1 && strings.Count(name, "/") == 1
	}
	return !strings.Contains(name, "/")
}

// insideNodeModules reports whether path lies inside a node_modules tree.
func insideNodeModules(path string) bool {
	return strings.Contains(path, "/node_modules/")
}

func base(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}
