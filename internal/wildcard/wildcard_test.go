package wildcard

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "anything/at/all", true},
		{"*", "", true},
		{"team-a/*", "team-a/app", true},
		{"team-a/*", "team-a/x/y", true},
		{"team-a/*", "team-ab/app", false},
		{"team-a/*", "team-a", false},
		{"prod-*", "prod-eu-1", true},
		{"prod-*", "staging", false},
		{"exact/name", "exact/name", true},
		{"exact/name", "exact/names", false},
		{"*-cache", "hub-cache", true},
		{"*-cache", "hub-cached", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"**", "x", true},
	} {
		if got := Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
	if !Any(nil, "x") || Any([]string{"a/*"}, "b/c") || !Any([]string{"a/*", "b/*"}, "b/c") {
		t.Error("Any")
	}
}

func TestCheck(t *testing.T) {
	for _, bad := range []string{"", "has space", "tab\t", "é", string(make([]byte, 600))} {
		if err := Check(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) = %v", bad, err)
		}
	}
	for _, good := range []string{"*", "team-a/*", "prod-*", "a/b"} {
		if err := Check(good); err != nil {
			t.Errorf("Check(%q) = %v", good, err)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("team-a/*", "team-a/app")
	f.Add("a*b*c", "abc")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		// A pattern without stars matches exactly itself.
		if got := Match(name, name); !got && !containsStar(name) {
			t.Fatalf("Match(%q, itself) = false", name)
		}
		_ = Match(pattern, name)
	})
}

func containsStar(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' {
			return true
		}
	}
	return false
}

// Pattern.Match agrees with a regular expression made from the pattern on
// every short pattern and name over a small alphabet.
func TestPatternMatchesRegexp(t *testing.T) {
	var words []string
	var grow func(prefix string, n int)
	grow = func(prefix string, n int) {
		words = append(words, prefix)
		if n > 0 {
			for _, c := range []string{"a", "b", "*"} {
				grow(prefix+c, n-1)
			}
		}
	}
	grow("", 5)
	for _, pattern := range words {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$")
		p := Compile(pattern)
		for _, name := range words {
			if strings.Contains(name, "*") {
				continue
			}
			if got, want := p.Match(name), re.MatchString(name); got != want {
				t.Fatalf("%q on %q = %v, the regexp says %v", pattern, name, got, want)
			}
		}
	}
}
