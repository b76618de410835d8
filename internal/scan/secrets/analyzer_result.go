//go:build catalogfindings

package secrets

import (
	"context"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// This file compiles once catalog.Result gains the proposed
//
//	Findings []catalog.Finding // non-package facts: secrets, misconfigurations
//
// (and catalog.FileResult the same field, squashed like packages so a file
// deleted or replaced in a later layer drops its findings). Build with
// -tags catalogfindings to check it against such a catalog.

var _ catalog.Analyzer = (*Analyzer)(nil)

// Analyze implements catalog.Analyzer.
func (a *Analyzer) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	found, err := a.Findings(ctx, f)
	if len(found) == 0 {
		return &catalog.Result{}, err
	}
	res := &catalog.Result{Findings: make([]catalog.Finding, 0, len(found))}
	for _, x := range found {
		res.Findings = append(res.Findings, catalog.Finding{
			Kind: "secret", RuleID: x.RuleID, Severity: x.Severity.String(), Title: x.Title,
			Path: x.Path, Line: x.Line, Match: x.Match,
		})
	}
	return res, err
}
