package secrets

import (
	"fmt"
	"regexp"
	"strings"
)

// globsRegexp compiles path globs into one anchored regular expression.
// Syntax: "**" matches any number of path elements (including none), "*"
// and "?" stay within one element, "{a,b}" is alternation. A glob without a
// leading "/" or "**/" matches at any depth.
func globsRegexp(globs []string) (*regexp.Regexp, error) {
	if len(globs) == 0 {
		return nil, nil
	}
	parts := make([]string, 0, len(globs))
	for _, g := range globs {
		re, err := globRegexp(g)
		if err != nil {
			return nil, err
		}
		parts = append(parts, re)
	}
	return regexp.Compile(`^(?:` + strings.Join(parts, "|") + `)$`)
}

func globRegexp(g string) (string, error) {
	if g == "" {
		return "", fmt.Errorf("empty glob")
	}
	var b strings.Builder
	if !strings.HasPrefix(g, "/") && !strings.HasPrefix(g, "**/") {
		b.WriteString(`(?:.*/)?`)
	}
	depth := 0
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
		case c == '{':
			depth++
			b.WriteString(`(?:`)
		case c == '}' && depth > 0:
			depth--
			b.WriteString(`)`)
		case c == ',' && depth > 0:
			b.WriteString(`|`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if depth != 0 {
		return "", fmt.Errorf("glob %q: unbalanced braces", g)
	}
	return b.String(), nil
}
