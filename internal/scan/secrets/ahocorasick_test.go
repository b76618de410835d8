package secrets

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzMatcher checks the automaton against a naive case-insensitive search.
func FuzzMatcher(f *testing.F) {
	kws := [][]string{{"ghp_", "gho_"}, {"password", "pass"}, {"aws"}, {"sswo"}, {"a"}, {"://"}}
	m := newMatcher(kws)
	f.Add([]byte("my PassWord is ghp_x at https://aws"))
	f.Add([]byte("ssssswooo"))
	f.Add([]byte("gho_")) // a rule's second keyword of the same length
	f.Fuzz(func(t *testing.T, b []byte) {
		got := map[int]bool{}
		m.scan(b, func(r, start, end int) {
			isKeyword := func(w string) bool { return bytes.EqualFold(b[start:end], []byte(w)) }
			if !slices.ContainsFunc(kws[r], isKeyword) {
				t.Fatalf("rule %d: %q at %d..%d is not its keyword", r, b[start:end], start, end)
			}
			got[r] = true
		})
		low := bytes.ToLower(b)
		for r, words := range kws {
			want := false
			for _, w := range words {
				want = want || bytes.Contains(low, []byte(w))
			}
			// bytes.ToLower folds non-ASCII too; compare on ASCII input only.
			if isASCII(b) && want != got[r] {
				t.Fatalf("rule %d: got %v, want %v on %q", r, got[r], want, b)
			}
		}
	})
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func TestGlobs(t *testing.T) {
	g, err := newGlobSet([]string{"**/node_modules/**/{test,tests}/**", "/usr/share/{doc,man}/**", "**/*.{png,GIF}", "a?c", "**/lib*.so.[0-9]*", "/etc/*.conf"})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"/app/node_modules/x/test/a.js":      true,
		"/app/node_modules/x/y/tests/z/a.js": true,
		"/app/node_modules/x/index.js":       false,
		"/usr/share/doc/a/b":                 true,
		"/opt/usr/share/doc/a":               false,
		"/a/b/logo.png":                      true,
		"/a/b/logo.png.txt":                  false,
		"/x/abc":                             true,
		"/x/a/c":                             false,
		"/usr/share/man/man1/ls.1.gz":        true,
		"/a/b/x.gif":                         true,
		"/lib/libc.so.6":                     true,
		"/lib/libc.so":                       false,
		"/etc/a.conf":                        true,
		"/etc/a/b.conf":                      false,
	} {
		if g.match(p) != want {
			t.Errorf("%s: got %v", p, !want)
		}
	}
}

func TestBadGlobs(t *testing.T) {
	for _, bad := range []string{"", "{a", "a}", "{a{b}}"} {
		if _, err := newGlobSet([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEntropy(t *testing.T) {
	if e := entropy([]byte("aaaa")); e != 0 {
		t.Errorf("aaaa: %v", e)
	}
	if e := entropy([]byte("abcd")); e != 2 {
		t.Errorf("abcd: %v", e)
	}
}
