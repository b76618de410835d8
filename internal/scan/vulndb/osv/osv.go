package osv

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalid classifies documents that are not usable OSV records.
var ErrInvalid = errors.New("invalid OSV record")

// MaxDetails caps the stored details text; reports show summaries and link
// to the full record, so megabytes of prose in one record buy nothing.
const MaxDetails = 2048

// Range types of the OSV schema.
const (
	RangeEcosystem = "ECOSYSTEM"
	RangeSemver    = "SEMVER"
	RangeGit       = "GIT"
)

// Advisory is one OSV record as moat stores it.
type Advisory struct {
	ID        string     `json:"id"`
	Aliases   []string   `json:"aliases,omitempty"`
	Related   []string   `json:"related,omitempty"`
	Summary   string     `json:"summary,omitempty"`
	Details   string     `json:"details,omitempty"`
	Published time.Time  `json:"published,omitzero"`
	Modified  time.Time  `json:"modified,omitzero"`
	Withdrawn time.Time  `json:"withdrawn,omitzero"`
	Severity  []Severity `json:"severity,omitempty"`
	// DatabaseSeverity is the publisher's own rating when it gives one
	// (GitHub's database_specific.severity: LOW, MODERATE, HIGH, CRITICAL).
	DatabaseSeverity string      `json:"databaseSeverity,omitempty"`
	Affected         []Affected  `json:"affected,omitempty"`
	References       []Reference `json:"references,omitempty"`
	// Source names where the record was imported from ("osv/Go",
	// "osv.dev/PyPI"); set by the importer, not part of OSV.
	Source string `json:"source,omitempty"`
}

// Affected is one affected package entry.
type Affected struct {
	Ecosystem string     `json:"ecosystem"`
	Name      string     `json:"name"`
	PURL      string     `json:"purl,omitempty"`
	Ranges    []Range    `json:"ranges,omitempty"`
	Versions  []string   `json:"versions,omitempty"`
	Severity  []Severity `json:"severity,omitempty"`
	// Rating is a per-package rating found in ecosystem_specific or
	// database_specific (a severity word or a CVSS vector such as RustSec's).
	Rating string `json:"rating,omitempty"`
}

// Range is one OSV range; its events are kept in document order.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Severity is one scored rating ("CVSS_V3", "CVSS:3.1/AV:N/...").
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Reference is one link of the record.
type Reference struct {
	Type string `json:"type,omitempty"`
	URL  string `json:"url"`
}

// IDs returns the record id followed by its aliases.
func (a *Advisory) IDs() []string {
	return append([]string{a.ID}, a.Aliases...)
}

// Keys lists the distinct (ecosystem, name) pairs the record affects.
func (a *Advisory) Keys() [][2]string {
	var out [][2]string
	seen := map[[2]string]bool{}
	for _, af := range a.Affected {
		k := [2]string{af.Ecosystem, af.Name}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// wire mirrors the OSV JSON document; fields moat ignores are left out so
// the decoder skips them without allocating.
type wire struct {
	ID        string     `json:"id"`
	Aliases   []string   `json:"aliases"`
	Related   []string   `json:"related"`
	Summary   string     `json:"summary"`
	Details   string     `json:"details"`
	Published string     `json:"published"`
	Modified  string     `json:"modified"`
	Withdrawn string     `json:"withdrawn"`
	Severity  []Severity `json:"severity"`
	Affected  []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
			PURL      string `json:"purl"`
		} `json:"package"`
		Ranges []struct {
			Type   string                       `json:"type"`
			Repo   string                       `json:"repo"`
			Events []map[string]json.RawMessage `json:"events"`
		} `json:"ranges"`
		Versions          []string        `json:"versions"`
		Severity          []Severity      `json:"severity"`
		EcosystemSpecific json.RawMessage `json:"ecosystem_specific"`
		DatabaseSpecific  json.RawMessage `json:"database_specific"`
	} `json:"affected"`
	References       []Reference     `json:"references"`
	DatabaseSpecific json.RawMessage `json:"database_specific"`
}

// Parse decodes one OSV JSON document.
func Parse(data []byte) (*Advisory, error) {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if strings.TrimSpace(w.ID) == "" {
		return nil, fmt.Errorf("%w: missing id", ErrInvalid)
	}
	a := &Advisory{
		ID:       w.ID,
		Aliases:  nonEmpty(w.Aliases),
		Related:  nonEmpty(w.Related),
		Summary:  strings.TrimSpace(w.Summary),
		Details:  truncate(strings.TrimSpace(w.Details), MaxDetails),
		Severity: w.Severity,
	}
	var err error
	if a.Published, err = parseTime(w.Published); err != nil {
		return nil, fmt.Errorf("%w: %s: published: %w", ErrInvalid, w.ID, err)
	}
	if a.Modified, err = parseTime(w.Modified); err != nil {
		return nil, fmt.Errorf("%w: %s: modified: %w", ErrInvalid, w.ID, err)
	}
	if a.Withdrawn, err = parseTime(w.Withdrawn); err != nil {
		return nil, fmt.Errorf("%w: %s: withdrawn: %w", ErrInvalid, w.ID, err)
	}
	a.DatabaseSeverity = ratingOf(w.DatabaseSpecific)
	for _, r := range w.References {
		if r.URL != "" {
			a.References = append(a.References, r)
		}
	}
	for i, wa := range w.Affected {
		af := Affected{
			Ecosystem: strings.TrimSpace(wa.Package.Ecosystem),
			Name:      strings.TrimSpace(wa.Package.Name),
			PURL:      wa.Package.PURL,
			Versions:  nonEmpty(wa.Versions),
			Severity:  wa.Severity,
		}
		if af.Ecosystem == "" || af.Name == "" {
			// A record may name a package only by purl or not at all
			// (GIT-only entries); nothing to key it by, so it is skipped.
			continue
		}
		af.Rating = ratingOf(wa.EcosystemSpecific)
		if af.Rating == "" {
			af.Rating = ratingOf(wa.DatabaseSpecific)
		}
		for j, wr := range wa.Ranges {
			r := Range{Type: strings.ToUpper(wr.Type), Repo: wr.Repo}
			for _, we := range wr.Events {
				ev, err := parseEvent(we)
				if err != nil {
					return nil, fmt.Errorf("%w: %s: affected[%d].ranges[%d]: %w", ErrInvalid, w.ID, i, j, err)
				}
				r.Events = append(r.Events, ev)
			}
			af.Ranges = append(af.Ranges, r)
		}
		a.Affected = append(a.Affected, af)
	}
	return a, nil
}

func parseEvent(m map[string]json.RawMessage) (Event, error) {
	if len(m) != 1 {
		return Event{}, fmt.Errorf("event must have exactly one key, has %d", len(m))
	}
	var ev Event
	for k, raw := range m {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Event{}, fmt.Errorf("event %q: %w", k, err)
		}
		if s == "" {
			return Event{}, fmt.Errorf("event %q: empty version", k)
		}
		switch k {
		case "introduced":
			ev.Introduced = s
		case "fixed":
			ev.Fixed = s
		case "last_affected":
			ev.LastAffected = s
		case "limit":
			ev.Limit = s
		default:
			return Event{}, fmt.Errorf("unknown event %q", k)
		}
	}
	return ev, nil
}

// ratingOf pulls a rating out of an ecosystem_specific/database_specific
// object: a "severity" word (GitHub, Ubuntu) or a "cvss" vector (RustSec).
func ratingOf(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	var v struct {
		Severity any `json:"severity"`
		CVSS     any `json:"cvss"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	if s, ok := v.Severity.(string); ok && s != "" {
		return strings.ToUpper(s)
	}
	if s, ok := v.CVSS.(string); ok && s != "" {
		return s
	}
	return ""
}

// parseTime accepts RFC 3339 with or without fractional seconds; empty and
// the 0001-01-01 placeholder some feeds use both mean "unknown" (zero).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Year() <= 1 {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
