package python

import (
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

const (
	maxHeaderSize = 1 << 20
	maxLockSize   = 32 << 20
	maxLineSize   = 64 << 10
)

// Normalize returns the PEP 503 form of a distribution name.
func Normalize(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '_' || c == '.':
			sep = true
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		b.WriteByte(c)
	}
	return b.String()
}

// validName accepts the names PEP 508 allows: ASCII letters, digits and
// "-_." inside, alphanumeric at both ends.
func validName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || i == len(name)-1 || (c != '-' && c != '_' && c != '.')) {
			return false
		}
	}
	return true
}

func validVersion(v string) bool {
	return v != "" && len(v) <= 128 && !strings.ContainsAny(v, " \t\r\n/\\")
}

func newPackage(name, version, path string, licenses []string) catalog.Package {
	return catalog.Package{
		Ecosystem: catalog.PyPI,
		Name:      name,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypePyPi, "", Normalize(name), version, nil, "").ToString(),
		Licenses:  licenses,
		Type:      "python",
		Paths:     []string{path},
	}
}

func base(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}
