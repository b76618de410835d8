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
func Match(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
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
