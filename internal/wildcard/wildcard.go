// Package wildcard matches names against the filters ECR's repository
// filters use: '*' stands for any run of characters, '/' included, and
// everything else matches itself. "team-a/*" matches "team-a/app" and
// "team-a/x/y"; "*" matches everything; "prod-*" matches "prod-eu".
package wildcard

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid reports an unusable pattern.
var ErrInvalid = errors.New("invalid wildcard pattern")

// maxLen bounds a pattern; names are at most a few hundred bytes.
const maxLen = 512

// Check validates a pattern: non-empty, printable ASCII without spaces,
// at most 512 bytes.
func Check(p string) error {
	if p == "" || len(p) > maxLen {
		return fmt.Errorf("%w: %q must be 1 to %d characters", ErrInvalid, p, maxLen)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: %q has a character other than printable ASCII", ErrInvalid, p)
		}
	}
	return nil
}

// Match reports whether name matches pattern.
func Match(pattern, name string) bool { return Compile(pattern).Match(name) }

// Pattern is a pattern split at its wildcards, for matching many names
// against one pattern without splitting it each time.
type Pattern []string

// Compile splits pattern for Pattern.Match.
func Compile(pattern string) Pattern { return strings.Split(pattern, "*") }

// Match reports whether name matches p.
func (p Pattern) Match(name string) bool {
	if len(p) == 1 {
		return p[0] == name
	}
	first, last := p[0], p[len(p)-1]
	if !strings.HasPrefix(name, first) {
		return false
	}
	name = name[len(first):]
	// Taking each middle part at its leftmost place leaves the most room
	// for the parts after it, so no backtracking is needed.
	for _, mid := range p[1 : len(p)-1] {
		i := strings.Index(name, mid)
		if i < 0 {
			return false
		}
		name = name[i+len(mid):]
	}
	return len(name) >= len(last) && strings.HasSuffix(name, last)
}

// Any reports whether name matches one of patterns; an empty list matches
// every name.
func Any(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if Match(p, name) {
			return true
		}
	}
	return false
}
