package report

import "github.com/moat-dev/moat/internal/scan/catalog"

// FromCatalog turns a catalog finding (a secret or misconfiguration) into
// a report finding; an unknown severity name reads as Unknown.
func FromCatalog(f catalog.Finding) Finding {
	sev, _ := ParseSeverity(f.Severity)
	return Finding{
		ID: f.RuleID, IDs: []string{f.RuleID}, Kind: f.Kind, Severity: sev, Summary: f.Title,
		Message: f.Message, Match: f.Match, Status: "affected",
		Location: &Location{Path: f.Path, Line: f.Line, Layer: f.Layer},
	}
}
