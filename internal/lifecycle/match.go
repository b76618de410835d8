package lifecycle

import (
	"strings"

	"github.com/moat-dev/moat/internal/wildcard"
)

// selector is a Selection's tag requirements, compiled once per
// evaluation because they are matched against every image.
type selector struct {
	status   string
	patterns []wildcard.Pattern
	prefixes []string
}

func newSelector(s Selection) selector {
	sel := selector{status: s.TagStatus, prefixes: s.TagPrefixList}
	for _, p := range s.TagPatternList {
		sel.patterns = append(sel.patterns, wildcard.Compile(p))
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
		if !anyTag(tags, g.Match) {
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
