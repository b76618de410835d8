package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Format is an output format.
type Format string

// Output formats.
const (
	Table     Format = "table"
	JSON      Format = "json"
	SARIF     Format = "sarif"
	CycloneDX Format = "cyclonedx"
)

// Formats lists the supported formats.
func Formats() []Format { return []Format{Table, JSON, SARIF, CycloneDX} }

// ParseFormat validates a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == strings.ToLower(s) {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w %q (want table, json, sarif or cyclonedx)", ErrFormat, s)
}

// Write renders r in format f.
func Write(w io.Writer, f Format, r *Report) error {
	switch f {
	case Table:
		return WriteTable(w, r)
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case SARIF:
		return WriteSARIF(w, r)
	case CycloneDX:
		return WriteCycloneDX(w, r)
	}
	return fmt.Errorf("%w %q", ErrFormat, f)
}

// WriteTable writes findings grouped by severity, highest first.
func WriteTable(w io.Writer, r *Report) error {
	counts := map[Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	head := r.Target
	if r.Distro != "" {
		head += " (" + r.Distro + ")"
	}
	fmt.Fprintf(w, "%s: %d packages, %d findings", head, r.Packages, len(r.Findings))
	var parts []string
	for s := Critical; s >= Unknown; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, counts[s]))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	if len(r.Suppressed) > 0 {
		fmt.Fprintf(w, ", %d suppressed", len(r.Suppressed))
	}
	fmt.Fprintln(w)
	for s := Critical; s >= Unknown; s-- {
		if counts[s] == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d)\n", s, counts[s])
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPACKAGE\tINSTALLED\tFIXED IN\tSCORE\tKEV\tEPSS\tSUMMARY")
		for _, f := range r.Findings {
			if f.Severity != s {
				continue
			}
			name := f.Package.Name
			if f.Package.SourceName != "" && f.Package.SourceName != name {
				name += " (" + f.Package.SourceName + ")"
			}
			score, kev, epss := "-", "-", "-"
			if f.Score > 0 {
				score = fmt.Sprintf("%.1f", f.Score)
			}
			if f.KEV != nil {
				kev = "yes"
				if f.KEV.Ransomware {
					kev = "ransomware"
				}
			}
			if f.EPSS != nil {
				epss = fmt.Sprintf("%.1f%%", f.EPSS.Score*100)
			}
			fixed := f.FixedIn
			if fixed == "" {
				fixed = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, name, f.Installed, fixed, score, kev, epss, clip(f.Summary, 70))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	return nil
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
