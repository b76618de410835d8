package lifecycle

import "strings"

// selector is a Selection's tag requirements, compiled once per
// evaluation because they are matched against every image.
type selector struct {
	status   string
	patterns []glob
	prefixes []string
}

func newSelector(s Selection) selector {
	sel := selector{status: s.TagStatus, prefixes: s.TagPrefixList}
	for _, p := range s.TagPatternList {
		sel.patterns = append(sel.patterns, strings.Split(p, "*"))
	}
	return sel
}

// identifies reports whether an image with these tags meets the tag
// requirements. With several patterns or prefixes, each must match one of
// the tags: "If you specify multiple tags, only the images with all
// specified tags are selected."
func (s *selector) identifies(tags []string) bool {
	switch s.status {
	case TagStatusAny:
		return true
	case TagStatusUntagged:
		return len(tags) == 0
	}
	if len(tags) == 0 {
		return false
	}
	for _, g := range s.patterns {
		if !anyTag(tags, g.match) {
			return false
		}
	}
	for _, p := range s.prefixes {
		if !anyTag(tags, func(t string) bool { return strings.HasPrefix(t, p) }) {
			return false
		}
	}
	return true
}

func anyTag(tags []string, match func(string) bool) bool {
	for _, t := range tags {
		if match(t) {
			return true
		}
	}
	return false
}

// glob is a tagPatternList entry split at its wildcards: '*' matches any
// run of characters, the empty run included, and everything else matches
// itself. "prod*" matches "prod" and "production"; "*prod*" matches
// "repo-production".
type glob []string

func (g glob) match(s string) bool {
	if len(g) == 1 {
		return s == g[0]
	}
	first, last := g[0], g[len(g)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	// Taking each middle part at its leftmost place leaves the most room
	// for the parts after it, so no backtracking is needed.
	for _, mid := range g[1 : len(g)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}
