package reference

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// FuzzValidRepository checks the scanner against the spec's regular
// expression on arbitrary input.
func FuzzValidRepository(f *testing.F) {
	for _, s := range []string{
		"library/ubuntu", "a__b", "a___b", "a--b/c.d", "a/", "a//b", "A", "",
		"ghcr.io/org/app", strings.Repeat("a/", 130),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidRepository(s)
		want := nameOracle.MatchString(s) && len(s) <= MaxNameLength
		if (err == nil) != want {
			t.Fatalf("ValidRepository(%q) = %v, oracle says valid=%v", s, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Fatalf("ValidRepository(%q) = %v, not ErrInvalidName", s, err)
		}
	})
}

// FuzzParse checks tag and digest parsing against the oracles and that a
// parsed reference round-trips.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"latest", "v1.0", "_", ".a", "a:b",
		string(digest.FromString("x")), string(digest.SHA512.FromString("x")),
		"sha256:" + strings.Repeat("A", 64),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTag) && !errors.Is(err, ErrInvalidDigest) {
				t.Fatalf("Parse(%q) = %v, untyped error", s, err)
			}
			if tagOracle.MatchString(s) {
				t.Fatalf("Parse(%q) rejected a valid tag: %v", s, err)
			}
			return
		}
		if r.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, r.String())
		}
		if r.IsDigest() {
			if err := r.Digest.Validate(); err != nil {
				t.Fatalf("accepted digest %q that go-digest rejects: %v", s, err)
			}
		} else if !tagOracle.MatchString(s) {
			t.Fatalf("Parse(%q) accepted an invalid tag", s)
		}
	})
}
