package report

import "errors"

// Errors.
var (
	// ErrBadSeverity is returned for an unknown severity name.
	ErrBadSeverity = errors.New("unknown severity")
	// ErrFormat is returned for an unknown output format.
	ErrFormat = errors.New("unknown output format")
)
