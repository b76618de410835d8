package secrets

import (
	"context"
	"errors"
	"io/fs"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// Analyzer runs a Scanner inside the catalog's single pass over each layer,
// so secret detection reads no layer twice; its findings land in
// catalog.Result.Findings (analyzer_result.go).
type Analyzer struct {
	s *Scanner
}

// NewAnalyzer wraps s.
func NewAnalyzer(s *Scanner) *Analyzer { return &Analyzer{s: s} }

// Name is the analyzer's cache-key name.
func (a *Analyzer) Name() string { return "secrets" }

// Version changes with the engine, the limits and the rule data, so cached
// layer results are redone when the rules change.
func (a *Analyzer) Version() int { return a.s.Version() }

// Wants decides from the path, mode and size alone: non-empty regular
// files within the size cap that no skip rule covers.
func (a *Analyzer) Wants(path string, mode fs.FileMode, size int64) bool {
	return mode.IsRegular() && size > 0 && !a.s.Skips(path, mode, size)
}

// Findings scans one catalog file. Binary and skipped files yield no
// findings and no error; a file longer than declared keeps the findings of
// the part read and reports ErrTooLarge.
func (a *Analyzer) Findings(ctx context.Context, f *catalog.File) ([]Finding, error) {
	out, err := a.s.Scan(ctx, f.Path, f.Content)
	if errors.Is(err, ErrBinary) || errors.Is(err, ErrSkippedPath) {
		return nil, nil
	}
	return out, err
}
