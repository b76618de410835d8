// Package lazyregexp compiles a regular expression on first use rather than
// at program start. Every package-level regexp.MustCompile runs before main
// in every moat command, so patterns needed only by some commands (the
// Dockerfile linter, the misconfiguration checks) would otherwise delay
// all of them.
package lazyregexp

import (
	"regexp"
	"sync"
)

// New returns a function that compiles expr the first time it is called
// and returns the same *regexp.Regexp on every call. An invalid expr
// panics on that first call, as regexp.MustCompile does.
func New(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
