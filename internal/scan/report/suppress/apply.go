package suppress

import (
	"time"

	"github.com/moat-dev/moat/internal/scan/report"
)

// Apply moves the findings that an ignore entry (not expired at now) or a
// VEX statement (not_affected, fixed) covers from r.Findings to
// r.Suppressed. The last VEX statement about a finding wins, so a later
// "affected" statement revokes an earlier "not_affected".
func Apply(r *report.Report, ig *IgnoreFile, vexes []*VEX, now time.Time) {
	kept := r.Findings[:0]
	for _, f := range r.Findings {
		if status, why, ok := suppressed(&f, r.Image, ig, vexes, now); ok {
			f.Status, f.Justification = status, why
			r.Suppressed = append(r.Suppressed, f)
			continue
		}
		kept = append(kept, f)
	}
	r.Findings = kept
}

func suppressed(f *report.Finding, image string, ig *IgnoreFile, vexes []*VEX, now time.Time) (status, why string, ok bool) {
	if ig != nil {
		for i := range ig.Entries {
			e := &ig.Entries[i]
			if !e.Expired(now) && e.matches(f) {
				return "ignored", e.Reason, true
			}
		}
	}
	var last *Statement
	for _, v := range vexes {
		for i := range v.Statements {
			if v.Statements[i].applies(f, image) {
				last = &v.Statements[i]
			}
		}
	}
	if last != nil && (last.Status == StatusNotAffected || last.Status == StatusFixed) {
		why := last.Justification
		if last.Impact != "" {
			if why != "" {
				why += ": "
			}
			why += last.Impact
		}
		if why == "" {
			why = "OpenVEX statement: " + last.Status
		}
		return last.Status, why, true
	}
	return "", "", false
}
