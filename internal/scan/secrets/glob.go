package secrets

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// globSet matches paths against globs. It runs on every entry of every
// layer, so it avoids regular expressions where it can: "**/*.{ext,…}"
// globs become an extension set, wildcard-free "/dir/**" globs a prefix
// test, and every other glob first needs its longest literal part to occur
// in the path before its expression runs.
//
// Syntax: "**" matches any number of path elements (including none), "*"
// and "?" stay within one element, "[…]" is a character class, "{a,b}" is
// alternation. A glob without a leading "/" or "**/" matches at any depth.
type globSet struct {
	exts     map[string]bool
	prefixes []string
	others   []literalGlob
}

type literalGlob struct {
	literals []string
	re       *regexp.Regexp
}

func newGlobSet(globs []string) (*globSet, error) {
	if len(globs) == 0 {
		return nil, nil
	}
	g := &globSet{exts: map[string]bool{}}
	for _, raw := range globs {
		if raw == "" {
			return nil, fmt.Errorf("empty glob")
		}
		if ext, ok := strings.CutPrefix(raw, "**/*."); ok && !strings.ContainsAny(ext, "*?[/.") {
			alts, err := expandBraces(ext)
			if err != nil {
				return nil, err
			}
			for _, e := range alts {
				g.exts[strings.ToLower(e)] = true
			}
			continue
		}
		alts, err := expandBraces(raw)
		if err != nil {
			return nil, err
		}
		for _, a := range alts {
			if dir, ok := strings.CutSuffix(a, "/**"); ok && strings.HasPrefix(a, "/") && !strings.ContainsAny(dir, "*?[") {
				g.prefixes = append(g.prefixes, dir+"/")
				continue
			}
			re, err := regexp.Compile(`^` + globRegexp(a) + `$`)
			if err != nil {
				return nil, fmt.Errorf("glob %q: %w", raw, err)
			}
			g.others = append(g.others, literalGlob{literals: literals(a), re: re})
		}
	}
	return g, nil
}

// match reports whether p (absolute, clean) matches any glob.
func (g *globSet) match(p string) bool {
	if g == nil {
		return false
	}
	if ext := path.Ext(p); len(ext) > 1 && g.exts[strings.ToLower(ext[1:])] {
		return true
	}
	for _, pre := range g.prefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	for _, o := range g.others {
		if containsAll(p, o.literals) && o.re.MatchString(p) {
			return true
		}
	}
	return false
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// expandBraces turns "a{b,c}d" into [abd acd]; braces do not nest.
func expandBraces(s string) ([]string, error) {
	i := strings.IndexByte(s, '{')
	if i < 0 {
		if strings.ContainsAny(s, "}") {
			return nil, fmt.Errorf("glob %q: unbalanced braces", s)
		}
		return []string{s}, nil
	}
	j := strings.IndexByte(s[i:], '}')
	if j < 0 || strings.ContainsAny(s[i+1:i+j], "{") {
		return nil, fmt.Errorf("glob %q: unbalanced or nested braces", s)
	}
	rest, err := expandBraces(s[i+j+1:])
	if err != nil {
		return nil, err
	}
	var out []string
	for _, alt := range strings.Split(s[i+1:i+j], ",") {
		for _, r := range rest {
			out = append(out, s[:i]+alt+r)
		}
	}
	return out, nil
}

// globRegexp translates one brace-free glob.
func globRegexp(g string) string {
	var b strings.Builder
	if !strings.HasPrefix(g, "/") && !strings.HasPrefix(g, "**/") {
		b.WriteString(`(?:.*/)?`)
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c == '*' && i+1 < len(g) && g[i+1] == '*':
			i++
			if i+1 < len(g) && g[i+1] == '/' {
				i++
				b.WriteString(`(?:.*/)?`)
			} else {
				b.WriteString(`.*`)
			}
		case c == '*':
			b.WriteString(`[^/]*`)
		case c == '?':
			b.WriteString(`[^/]`)
		case c == '[':
			if j := strings.IndexByte(g[i:], ']'); j > 1 {
				class := strings.ReplaceAll(g[i+1:i+j], `\`, `\\`)
				if strings.HasPrefix(class, "!") {
					class = "^" + class[1:]
				}
				b.WriteString("[" + class + "]")
				i += j
				continue
			}
			b.WriteString(`\[`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// literals are the wildcard-free runs of a glob (outside character
// classes) that every matching path contains.
func literals(g string) []string {
	var out []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() >= 2 {
			out = append(out, cur.String())
		}
		cur.Reset()
	}
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*', '?':
			flush()
		case '[':
			flush()
			if j := strings.IndexByte(g[i:], ']'); j > 1 {
				i += j
			}
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}
