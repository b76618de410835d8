package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/moat-dev/moat/internal/sarif"
)

// SARIF 2.1.0, the subset GitHub code scanning reads: one rule per
// vulnerability id (or secret or misconfiguration rule), one result per
// finding located at the file the package was read from, or at the path
// and line of a secret or misconfiguration.

func sarifLevel(s Severity) string {
	switch s {
	case Critical, High:
		return "error"
	case Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the number GitHub maps to its severity labels.
func securitySeverity(f *Finding) string {
	if f.Score > 0 {
		return fmt.Sprintf("%.1f", f.Score)
	}
	return map[Severity]string{Critical: "9.5", High: "8.0", Medium: "5.5", Low: "2.0", Unknown: "0.0"}[f.Severity]
}

// WriteSARIF writes the findings as a SARIF 2.1.0 log.
func WriteSARIF(w io.Writer, r *Report) error {
	run := sarif.Run{Tool: sarif.Tool{Driver: sarif.Driver{Name: "moat", InformationURI: "https://github.com/moat-dev/moat", Rules: []sarif.Rule{}}}, Results: []sarif.Result{}}
	ruleIdx := map[string]int{}
	for i := range r.Findings {
		f := &r.Findings[i]
		if _, ok := ruleIdx[f.ID]; ok {
			continue
		}
		ruleIdx[f.ID] = len(run.Tool.Driver.Rules)
		help := fmt.Sprintf("%s\nIdentifiers: %s\nPackage: %s %s\nFixed in: %s", f.Summary, strings.Join(f.IDs, ", "), f.Package.Name, f.Installed, orNone(f.FixedIn))
		md := fmt.Sprintf("**%s** %s\n\n| Package | Installed | Fixed in | Severity |\n|---|---|---|---|\n| %s | %s | %s | %s |\n\nIdentifiers: %s",
			f.ID, f.Summary, f.Package.Name, f.Installed, orNone(f.FixedIn), f.Severity, strings.Join(f.IDs, ", "))
		if located(f) {
			help = fmt.Sprintf("%s (%s rule %s)", f.Summary, f.Kind, f.ID)
			md = fmt.Sprintf("**%s** %s (%s)", f.ID, f.Summary, f.Kind)
		}
		for _, ref := range f.References {
			md += "\n- " + ref
		}
		desc := f.Summary
		if desc == "" {
			desc = f.ID
		}
		rule := sarif.Rule{
			ID: f.ID, Name: ruleName(f), ShortDescription: sarif.Text{Text: clip(desc, 200)}, FullDescription: sarif.Text{Text: desc},
			Help: sarif.Help{Text: help, Markdown: md},
			Properties: map[string]any{
				"security-severity": securitySeverity(f),
				"tags":              []string{"security", kindTag(f), f.Severity.String()},
				"precision":         "very-high",
			},
			DefaultConfig: sarif.Config{Level: sarifLevel(f.Severity)},
		}
		if len(f.References) > 0 {
			rule.HelpURI = f.References[0]
		}
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule)
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		uri := r.Target
		if len(f.Package.Paths) > 0 {
			uri = strings.TrimPrefix(f.Package.Paths[0], "/")
		}
		line := 1
		if f.Location != nil {
			// Pseudo-paths ("image-config:Env") would read as URI schemes.
			uri = strings.ReplaceAll(strings.TrimPrefix(f.Location.Path, "/"), ":", "/")
			line = f.Location.Line
		}
		if uri == "" {
			uri = "image"
		}
		msg := fmt.Sprintf("Package: %s\nInstalled version: %s\nVulnerability: %s\nSeverity: %s\nFixed version: %s",
			f.Package.Name, f.Installed, f.ID, f.Severity, orNone(f.FixedIn))
		switch f.Kind {
		case KindEndOfLife:
			msg = f.Summary
		case KindSecret:
			msg = fmt.Sprintf("%s: %s (redacted)", f.Summary, f.Match)
		case KindMisconfiguration:
			msg = f.Summary
			if f.Message != "" {
				msg += ": " + f.Message
			}
		}
		if f.Location != nil && f.Location.Layer != "" {
			msg += "\nLayer: " + f.Location.Layer
		}
		run.Results = append(run.Results, sarif.Result{
			RuleID: f.ID, RuleIndex: ruleIdx[f.ID], Level: sarifLevel(f.Severity), Message: sarif.Text{Text: msg},
			Locations:           []sarif.Location{sarif.At(uri, line)},
			PartialFingerprints: map[string]string{"moat/v1": fingerprint(r, f)},
		})
	}
	sort.SliceStable(run.Results, func(i, j int) bool { return run.Results[i].RuleIndex < run.Results[j].RuleIndex })
	return sarif.Write(w, run)
}

func ruleName(f *Finding) string {
	switch f.Kind {
	case KindEndOfLife:
		return "EndOfLife"
	case KindSecret:
		return "Secret"
	case KindMisconfiguration:
		return "Misconfiguration"
	}
	return "VulnerablePackage"
}

// located reports whether f is a secret or misconfiguration, found at a
// Location rather than in a package.
func located(f *Finding) bool { return f.Kind == KindSecret || f.Kind == KindMisconfiguration }

func kindTag(f *Finding) string {
	if located(f) {
		return f.Kind
	}
	return "vulnerability"
}

// fingerprint keeps a finding's identity across scans for deduplication
// in code-scanning dashboards.
func fingerprint(r *Report, f *Finding) string {
	if f.Location != nil {
		return strings.Join([]string{r.Target, f.ID, f.Location.Path, fmt.Sprint(f.Location.Line)}, "|")
	}
	return strings.Join([]string{r.Target, f.ID, f.Package.Ecosystem, f.Package.Name, f.Installed, strings.Join(f.Package.Paths, ",")}, "|")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
