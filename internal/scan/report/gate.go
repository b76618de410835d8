package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Gate is what a --fail-on threshold found in a report: the findings at
// or above it, counted by severity, and the first few named.
type Gate struct {
	Threshold  Severity
	Count      int
	BySeverity map[Severity]int
	// First names up to the requested number of tripping findings, most
	// severe first: "ID (package)" or "ID (path:line)".
	First []string
}

// Tripped reports whether any finding reached the threshold.
func (g Gate) Tripped() bool { return g.Count > 0 }

// CheckGate summarizes the findings of r at or above threshold, naming at
// most names of them.
func CheckGate(r *Report, threshold Severity, names int) Gate {
	g := Gate{Threshold: threshold, BySeverity: map[Severity]int{}}
	var over []*Finding
	for i := range r.Findings {
		if f := &r.Findings[i]; f.Severity >= threshold {
			over = append(over, f)
			g.BySeverity[f.Severity]++
		}
	}
	g.Count = len(over)
	// Most severe first; within a severity, the report's order.
	slices.SortStableFunc(over, func(a, b *Finding) int { return cmp.Compare(b.Severity, a.Severity) })
	for _, f := range over[:min(names, len(over))] {
		what := f.Package.Name
		if what == "" {
			what = where(f)
		}
		g.First = append(g.First, fmt.Sprintf("%s (%s)", f.ID, what))
	}
	return g
}

// String says why the gate failed, e.g. "3 findings at or above HIGH (1
// CRITICAL, 2 HIGH): CVE-2021-44228 (log4j-core), ...".
func (g Gate) String() string {
	if !g.Tripped() {
		return fmt.Sprintf("no finding at or above %s", g.Threshold)
	}
	var counts []string
	for s := Critical; s >= g.Threshold && s >= Unknown; s-- {
		if n := g.BySeverity[s]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	noun := "findings"
	if g.Count == 1 {
		noun = "finding"
	}
	msg := fmt.Sprintf("%d %s at or above %s (%s): %s", g.Count, noun, g.Threshold, strings.Join(counts, ", "), strings.Join(g.First, ", "))
	if more := g.Count - len(g.First); more > 0 {
		msg += fmt.Sprintf(" and %d more", more)
	}
	return msg
}
