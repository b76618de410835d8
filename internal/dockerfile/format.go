package dockerfile

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/moat-dev/moat/internal/sarif"
)

// Format names an output format of Write.
type Format string

// Output formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	SARIF Format = "sarif"
)

// ErrBadFormat is returned for an unknown output format.
var ErrBadFormat = fmt.Errorf("unknown output format")

// ParseFormat reads a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case Table, JSON, SARIF:
		return f, nil
	}
	return "", fmt.Errorf("%w %q (want table, json or sarif)", ErrBadFormat, s)
}

// Write renders findings (of any number of files) in format f.
func Write(w io.Writer, f Format, findings []Finding) error {
	switch f {
	case Table:
		return writeTable(w, findings)
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if findings == nil {
			findings = []Finding{}
		}
		return enc.Encode(struct {
			Findings []Finding `json:"findings"`
		}{findings})
	case SARIF:
		return writeSARIF(w, findings)
	}
	return fmt.Errorf("%w %q", ErrBadFormat, f)
}

func writeTable(w io.Writer, findings []Finding) error {
	if len(findings) == 0 {
		_, err := fmt.Fprintln(w, "No findings.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCATION\tRULE\tSEVERITY\tMESSAGE")
	for _, f := range findings {
		fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\n", f.File, f.Line, f.Rule, f.Severity, f.Message)
	}
	return tw.Flush()
}

func sarifLevel(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}

// securitySeverity is the number code-scanning dashboards map to labels.
func securitySeverity(s Severity) string {
	switch s {
	case Error:
		return "8.0"
	case Warning:
		return "5.5"
	}
	return "2.0"
}

// artifactURI makes a relative, slash-separated URI as code scanning
// expects.
func artifactURI(file string) string {
	u := filepath.ToSlash(filepath.Clean(file))
	return strings.TrimLeft(u, "/")
}

// writeSARIF writes SARIF 2.1.0: one rule per lint rule that fired, one
// result per finding.
func writeSARIF(w io.Writer, findings []Finding) error {
	run := sarif.Run{Tool: sarif.Tool{Driver: sarif.Driver{Name: "moat-lint", InformationURI: "https://github.com/moat-dev/moat", Rules: []sarif.Rule{}}}, Results: []sarif.Result{}}
	idx := map[string]int{}
	ids := []string{}
	for _, f := range findings {
		if _, ok := idx[f.Rule]; !ok {
			idx[f.Rule] = -1
			ids = append(ids, f.Rule)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		r, _ := ruleByID(id)
		idx[id] = len(run.Tool.Driver.Rules)
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarif.Rule{
			ID: r.ID, Name: r.Name,
			ShortDescription: sarif.Text{Text: r.Rationale}, FullDescription: sarif.Text{Text: r.Rationale},
			Help:          sarif.Help{Text: "Fix: " + r.Fix, Markdown: fmt.Sprintf("**%s** %s\n\n**Fix:** %s", r.ID, r.Rationale, r.Fix)},
			DefaultConfig: sarif.Config{Level: sarifLevel(r.Severity)},
			Properties:    map[string]any{"security-severity": securitySeverity(r.Severity), "tags": []string{"security", "dockerfile"}, "precision": "high"},
		})
	}
	for _, f := range findings {
		run.Results = append(run.Results, sarif.Result{
			RuleID: f.Rule, RuleIndex: idx[f.Rule], Level: sarifLevel(f.Severity), Message: sarif.Text{Text: f.Message},
			Locations: []sarif.Location{sarif.At(artifactURI(f.File), f.Line)},
		})
	}
	return sarif.Write(w, run)
}
