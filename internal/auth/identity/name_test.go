package identity

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// The grammar ValidName implements, kept here as the reference.
var nameGrammar = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$`)

func TestValidName(t *testing.T) {
	cases := map[string]bool{
		"a": true, "admin": true, "ci-a": true, "team.a_b-1": true, "0": true,
		strings.Repeat("a", 64): true, strings.Repeat("a", 65): false,
		"": false, "-a": false, "a-": false, ".a": false, "a_": false, "Admin": false,
		"a b": false, "a/b": false, "robot+x": false, "ä": false, "a\x00": false, "--": false,
	}
	for name, want := range cases {
		err := ValidName("user", name)
		if got := err == nil; got != want {
			t.Errorf("ValidName(%q) = %v, want valid=%v", name, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidName(%q) error %v is not ErrInvalid", name, err)
		}
		if nameGrammar.MatchString(name) != want {
			t.Errorf("table entry %q disagrees with the grammar", name)
		}
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"admin", "a-b", "-a", strings.Repeat("z", 64), "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := validName(name), nameGrammar.MatchString(name); got != want {
			t.Fatalf("validName(%q) = %v, grammar says %v", name, got, want)
		}
	})
}
