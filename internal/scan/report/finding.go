package report

import (
	"fmt"
	"strings"
	"time"
)

// Severity is a finding's rating, ordered so comparisons work.
type Severity int

// Severities, lowest first.
const (
	Unknown Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (s Severity) String() string {
	if s < Unknown || s > Critical {
		return "UNKNOWN"
	}
	return severityNames[s]
}

// MarshalText writes the name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name (case-insensitive; MODERATE means MEDIUM).
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// ParseSeverity reads a severity name; "moderate" (GitHub) means medium,
// "important" (Red Hat) high.
func ParseSeverity(name string) (Severity, error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "CRITICAL":
		return Critical, nil
	case "HIGH", "IMPORTANT":
		return High, nil
	case "MEDIUM", "MODERATE":
		return Medium, nil
	case "LOW", "NEGLIGIBLE":
		return Low, nil
	case "UNKNOWN", "":
		return Unknown, nil
	}
	return Unknown, fmt.Errorf("%w: %q (want critical, high, medium, low or unknown)", ErrBadSeverity, name)
}

// Kinds of findings.
const (
	KindVulnerability    = "vulnerability"
	KindEndOfLife        = "end-of-life"
	KindSecret           = "secret"
	KindMisconfiguration = "misconfiguration"
)

// Location is where in the image a secret or misconfiguration is.
type Location struct {
	// Path is absolute within the image, or a pseudo-path for the image
	// configuration ("image-config", "image-config:Env", "image-history").
	Path string `json:"path"`
	// Line is 1-based; 0 when the finding concerns the whole file.
	Line int `json:"line,omitempty"`
	// Layer is the digest of the layer holding the file, when known.
	Layer string `json:"layer,omitempty"`
}

// Package is the affected package as the inventory described it.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	// SourceName/SourceVersion are what distribution advisories matched.
	SourceName    string   `json:"sourceName,omitempty"`
	SourceVersion string   `json:"sourceVersion,omitempty"`
	PURL          string   `json:"purl,omitempty"`
	Type          string   `json:"type,omitempty"`
	Paths         []string `json:"paths,omitempty"`
	Layer         string   `json:"layer,omitempty"`
}

// KEV is the CISA KEV listing of a finding's CVE.
type KEV struct {
	CVE        string `json:"cve"`
	DateAdded  string `json:"dateAdded"`
	DueDate    string `json:"dueDate,omitempty"`
	Ransomware bool   `json:"ransomware"`
}

// EPSS is the exploit prediction score of a finding's CVE (highest of its
// CVEs).
type EPSS struct {
	CVE        string  `json:"cve"`
	Score      float64 `json:"score"`
	Percentile float64 `json:"percentile"`
}

// EndOfLife describes a release past its support date.
type EndOfLife struct {
	Product string    `json:"product"`
	Release string    `json:"release"`
	Date    time.Time `json:"date,omitzero"`
	// Extended is the end of extended support when it is later than Date.
	Extended time.Time `json:"extended,omitzero"`
}

// Finding is one vulnerability (all its aliases merged) in one package,
// one end-of-life release, or (Kind secret or misconfiguration) one rule
// broken at one Location, with Summary its title.
type Finding struct {
	// ID is the preferred identifier: a CVE when there is one.
	ID string `json:"id"`
	// IDs are every identifier of the vulnerability, ID first.
	IDs     []string `json:"ids"`
	Kind    string   `json:"kind"`
	Package Package  `json:"package"`
	// Installed is the version compared (the source version for OS
	// packages matched by source).
	Installed string `json:"installed"`
	// Fixed lists the fixed versions the advisories name, ascending.
	Fixed []string `json:"fixed,omitempty"`
	// FixedIn is the smallest fixed version above Installed: the upgrade
	// that removes the finding. Empty when no fix is known.
	FixedIn  string   `json:"fixedIn,omitempty"`
	Severity Severity `json:"severity"`
	// Score is the CVSS base score (0 when unknown); Vector is the vector
	// it came from.
	Score      float64    `json:"score,omitempty"`
	Vector     string     `json:"vector,omitempty"`
	KEV        *KEV       `json:"kev,omitempty"`
	EPSS       *EPSS      `json:"epss,omitempty"`
	EndOfLife  *EndOfLife `json:"endOfLife,omitempty"`
	Summary    string     `json:"summary,omitempty"`
	References []string   `json:"references,omitempty"`
	Published  time.Time  `json:"published,omitzero"`
	// Status is "affected", or why it was suppressed ("ignored",
	// "not_affected", "fixed") when suppressed findings are kept.
	Status string `json:"status"`
	// Justification explains a suppression (ignore reason, VEX statement).
	Justification string `json:"justification,omitempty"`
	// Location, Message and Match describe secrets and misconfigurations.
	Location *Location `json:"location,omitempty"`
	Message  string    `json:"message,omitempty"`
	// Match is a secret's redacted form (its first characters and
	// asterisks); never the secret.
	Match string `json:"match,omitempty"`
}

// HasID reports whether id is one of the finding's identifiers.
func (f *Finding) HasID(id string) bool {
	for _, x := range f.IDs {
		if strings.EqualFold(x, id) {
			return true
		}
	}
	return false
}

// Report is the result of scanning one image.
type Report struct {
	// Target is what was scanned (the SOURCE argument).
	Target   string    `json:"target"`
	Image    string    `json:"image,omitempty"`
	Distro   string    `json:"distro,omitempty"`
	Created  time.Time `json:"created"`
	DB       DBInfo    `json:"db"`
	Packages int       `json:"packages"`
	Findings []Finding `json:"findings"`
	// Suppressed are findings removed by an ignore file or VEX statement.
	Suppressed []Finding `json:"suppressed,omitempty"`
	Warnings   []string  `json:"warnings,omitempty"`
}

// DBInfo identifies the advisory database used.
type DBInfo struct {
	Version string    `json:"version"`
	Created time.Time `json:"created"`
}
