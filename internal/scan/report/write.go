package report

import (
	"bufio"
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
	// The writers emit many small pieces (a table cell at a time); one
	// buffer turns them into a few large writes to a terminal or file.
	bw := bufio.NewWriterSize(w, 64<<10)
	var err error
	switch f {
	case Table:
		err = WriteTable(bw, r)
	case JSON:
		enc := json.NewEncoder(bw)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	case SARIF:
		err = WriteSARIF(bw, r)
	case CycloneDX:
		err = WriteCycloneDX(bw, r)
	default:
		return fmt.Errorf("%w %q", ErrFormat, f)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
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
	// Vulnerabilities and end-of-life releases by severity, then secrets,
	// then misconfigurations, each highest severity first.
	var vulns, secrets, misconf []Finding
	for _, f := range r.Findings {
		switch f.Kind {
		case KindSecret:
			secrets = append(secrets, f)
		case KindMisconfiguration:
			misconf = append(misconf, f)
		default:
			vulns = append(vulns, f)
		}
	}
	counts = map[Severity]int{}
	for _, f := range vulns {
		counts[f.Severity]++
	}
	for s := Critical; s >= Unknown; s-- {
		if counts[s] == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d)\n", s, counts[s])
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPACKAGE\tINSTALLED\tFIXED IN\tSCORE\tKEV\tEPSS\tSUMMARY")
		for _, f := range vulns {
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
	if err := locatedTable(w, "Secrets", "SEVERITY\tRULE\tLOCATION\tLAYER\tMATCH\tTITLE", secrets, func(f *Finding) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", f.Severity, f.ID, where(f), short(f), f.Match, clip(f.Summary, 50))
	}); err != nil {
		return err
	}
	if err := locatedTable(w, "Misconfigurations", "SEVERITY\tID\tLOCATION\tLAYER\tTITLE\tDETAIL", misconf, func(f *Finding) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", f.Severity, f.ID, where(f), short(f), f.Summary, clip(f.Message, 90))
	}); err != nil {
		return err
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	return nil
}

// locatedTable writes one section of located findings, highest severity
// first, in their given order within a severity.
func locatedTable(w io.Writer, title, header string, fs []Finding, row func(*Finding) string) error {
	if len(fs) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\n%s (%d)\n", title, len(fs))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for s := Critical; s >= Unknown; s-- {
		for i := range fs {
			if fs[i].Severity == s {
				fmt.Fprintln(tw, row(&fs[i]))
			}
		}
	}
	return tw.Flush()
}

// where is "path:line", or the path alone.
func where(f *Finding) string {
	if f.Location == nil {
		return "-"
	}
	if f.Location.Line > 0 {
		return fmt.Sprintf("%s:%d", f.Location.Path, f.Location.Line)
	}
	return f.Location.Path
}

// short is the first 12 hex digits of the finding's layer digest.
func short(f *Finding) string {
	if f.Location == nil || f.Location.Layer == "" {
		return "-"
	}
	_, hex, _ := strings.Cut(f.Location.Layer, ":")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
