package vulndb

import (
	"strings"
)

// Key identifies the advisories of one package in one ecosystem. Ecosystem
// is the full OSV ecosystem string, release included ("Debian:12").
type Key struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
}

// String is the index form of the key.
func (k Key) String() string { return k.Ecosystem + "\x00" + NormalizeName(k.Ecosystem, k.Name) }

func keyFromString(s string) Key {
	eco, name, _ := strings.Cut(s, "\x00")
	return Key{Ecosystem: eco, Name: name}
}

// NormalizeName folds a package name the way its ecosystem compares names,
// so lookups match however the inventory or the advisory spelled it.
func NormalizeName(ecosystem, name string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	switch base {
	case "PyPI":
		// PEP 503: case-insensitive, runs of -, _ and . are equivalent.
		var b strings.Builder
		b.Grow(len(name))
		sep := false
		for i := 0; i < len(name); i++ {
			c := name[i]
			if c == '-' || c == '_' || c == '.' {
				sep = true
				continue
			}
			if sep && b.Len() > 0 {
				b.WriteByte('-')
			}
			sep = false
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		return b.String()
	case "NuGet", "Packagist", "RubyGems", "Hex", "Pub":
		return strings.ToLower(name)
	}
	return name
}
