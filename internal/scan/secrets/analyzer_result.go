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
		res.Findings = append(res.Findings, x.Catalog())
	}
	return res, err
}

// Catalog converts f into the catalog's finding model (still redacted).
func (f Finding) Catalog() catalog.Finding {
	return catalog.Finding{Kind: KindSecret, RuleID: f.RuleID, Severity: f.Severity.String(), Title: f.Title,
		Path: f.Path, Line: f.Line, Match: f.Match, Layer: f.Layer}
}

// KindSecret is the catalog.Finding kind of secrets.
const KindSecret = "secret"
