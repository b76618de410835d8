package version

import (
	"errors"
	"testing"
)

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestCompare(t *testing.T) {
	tests := []struct {
		eco  string
		a, b string
		want int
	}{
		// dpkg: epochs, tildes, revisions, the + and . ordering.
		{"Debian:12", "1:1.0-1", "2.0-1", 1},
		{"Debian:12", "1.0~rc1-1", "1.0-1", -1},
		{"Debian:12", "1.0~~a", "1.0~", -1},
		{"Debian:12", "1.26.12-1+deb12u4", "1.26.12-1+deb12u1", 1},
		{"Debian:12", "2.36-9+deb12u10", "2.36-9+deb12u7", 1},
		{"Debian:12", "1.0-1", "1.0-1", 0},
		{"Debian:12", "1.0", "1.0-0", 0},
		{"Ubuntu:22.04:LTS", "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.9", 1},
		// apk: suffixes and -r revisions.
		{"Alpine:v3.19", "1.2.3-r1", "1.2.3-r0", 1},
		{"Alpine:v3.19", "1.2.3_rc1-r0", "1.2.3-r0", -1},
		{"Alpine:v3.19", "1.2.3_p1-r0", "1.2.3-r0", 1},
		{"Alpine:v3.19", "3.1.4-r5", "3.1.10-r0", -1},
		// rpm: epoch, release, tilde.
		{"Red Hat", "1:1.0-1.el9", "2.0-1.el9", 1},
		{"Rocky Linux:9", "1.0-2.el9", "1.0-10.el9", -1},
		{"RPM", "1.0~beta-1", "1.0-1", -1},
		// semver (npm, crates): pre-releases sort before the release.
		{"npm", "1.0.0-alpha", "1.0.0", -1},
		{"npm", "1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"npm", "4.17.15", "4.17.21", -1},
		{"crates.io", "0.10.0", "0.9.9", 1},
		// Go: v prefixes, pseudo-versions, toolchain versions.
		{"Go", "v1.6.0", "1.6.0", 0},
		{"Go", "v0.0.0-20200202094626-16171245cfb2", "0.0.0-20210226172049-e18ecbb05110", -1},
		{"Go", "v0.0.0-20220906165146-f3363e06e74c", "0.0.0-20210226172049-e18ecbb05110", 1},
		{"Go", "v1.2.4-0.20191109021931-daa7c04131f5", "1.2.3", 1},
		{"Go", "v1.2.4-0.20191109021931-daa7c04131f5", "1.2.4", -1},
		{"Go", "go1.21rc2", "1.21.0", -1},
		{"Go", "go1.26.8", "1.26.7", 1},
		{"Go", "go1.21", "1.21.0", 0},
		{"Go", "v2.0.0+incompatible", "2.0.0", 0},
		// PEP 440: epochs, pre, post, dev, local.
		{"PyPI", "1.0.dev1", "1.0a1", -1},
		{"PyPI", "1.0a1", "1.0rc1", -1},
		{"PyPI", "1.0rc1", "1.0", -1},
		{"PyPI", "1.0", "1.0.post1", -1},
		{"PyPI", "1.0.post1.dev1", "1.0.post1", -1},
		{"PyPI", "1!0.5", "2.0", 1},
		{"PyPI", "1.0+local.1", "1.0", 1},
		{"PyPI", "1.26.12", "1.26.18", -1},
		{"PyPI", "2022.9.24", "2022.12.07", -1},
		{"PyPI", "1.0", "1.0.0", 0},
		// Maven: qualifiers.
		{"Maven", "2.19.0", "2.17.1", 1},
		{"Maven", "1.0-alpha-1", "1.0-beta-1", -1},
		{"Maven", "1.0-rc1", "1.0", -1},
		{"Maven", "1.0-SNAPSHOT", "1.0", -1},
		{"Maven", "1.0", "1.0-sp1", -1},
		{"Maven", "1.0.0", "1", 0},
		{"Maven", "2.14.0", "2.14.0.1", -1},
		{"Maven", "1.0-milestone-1", "1.0-rc-1", -1},
		// RubyGems: pre-release letters.
		{"RubyGems", "1.0.0.pre", "1.0.0", -1},
		{"RubyGems", "1.0.0.a", "1.0.0.b", -1},
		{"RubyGems", "2.10", "2.9", 1},
		// NuGet and Composer: four parts, pre-releases, v prefix.
		{"NuGet", "4.0.0.1", "4.0.0", 1},
		{"NuGet", "1.0.0-beta", "1.0.0", -1},
		{"Packagist", "v5.4.3", "5.4.10", -1},
		{"Packagist", "1.0.0-RC1", "1.0.0", -1},
	}
	for _, tt := range tests {
		got, err := compare(For(tt.eco), tt.a, tt.b)
		if err != nil {
			t.Errorf("%s: Compare(%q, %q): %v", tt.eco, tt.a, tt.b, err)
			continue
		}
		if sign(got) != tt.want {
			t.Errorf("%s: Compare(%q, %q) = %d, want %d", tt.eco, tt.a, tt.b, got, tt.want)
		}
	}
}

// compare parses both versions with c and compares them.
func compare(c Comparator, a, b string) (int, error) {
	va, err := c.Parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := c.Parse(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func TestInvalid(t *testing.T) {
	tests := []struct{ eco, v string }{
		{"Debian:12", "a:b:c"},
		{"Debian:12", ""},
		{"Go", "not-a-version"},
		{"PyPI", "1.0 foo"},
		{"npm", "one.two"},
		{"RPM", ""},
	}
	for _, tt := range tests {
		_, err := For(tt.eco).Parse(tt.v)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Parse(%q) err = %v, want ErrInvalid", tt.eco, tt.v, err)
		}
	}
}

func TestCanonicalGo(t *testing.T) {
	for in, want := range map[string]string{
		"1.6.0": "v1.6.0", "v1.6.0": "v1.6.0", "go1.21": "v1.21.0", "go1.21rc2": "v1.21.0-rc.2",
		"go1.20beta1": "v1.20.0-beta.1", "go1.26.8": "v1.26.8",
	} {
		if got := CanonicalGo(in); got != want {
			t.Errorf("CanonicalGo(%q) = %q, want %q", in, got, want)
		}
	}
}
