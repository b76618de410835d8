package secrets

import (
	"context"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

var _ catalog.Analyzer = (*Analyzer)(nil)

// Analyze implements catalog.Analyzer: findings become catalog findings of
// kind "secret", still redacted; the catalog sets their layer.
func (a *Analyzer) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	found, err := a.Findings(ctx, f)
	if len(found) == 0 {
		return &catalog.Result{}, err
	}
	res := &catalog.Result{Findings: make([]catalog.Finding, 0, len(found))}
	for _, x := range found {
		res.Findings = append(res.Findings, catalog.Finding{
			Kind: KindSecret, RuleID: x.RuleID, Severity: x.Severity.String(), Title: x.Title,
			Path: x.Path, Line: x.Line, Match: x.Match,
		})
	}
	return res, err
}

// KindSecret is the catalog.Finding kind of secrets.
const KindSecret = "secret"
