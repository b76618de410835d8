package suppress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/moat-dev/moat/internal/scan/report"
)

// ErrInvalid classifies malformed ignore files and VEX documents.
var ErrInvalid = errors.New("invalid suppression document")

// maxDocument caps an ignore file or VEX document.
const maxDocument = 16 << 20

// IgnoreFile is a parsed ignore file:
//
//	ignore:
//	  - id: CVE-2023-4911          # any id of the finding (CVE, GHSA, GO-…)
//	    package: glibc             # optional: package, source package or purl
//	    reason: not reachable from our entrypoint
//	    expires: 2026-12-31        # optional: last day the entry applies
type IgnoreFile struct {
	Entries []IgnoreEntry `yaml:"ignore"`
}

// IgnoreEntry is one accepted finding.
type IgnoreEntry struct {
	ID      string `yaml:"id"`
	Package string `yaml:"package,omitempty"`
	Reason  string `yaml:"reason"`
	// Expires is a date (2006-01-02, valid through that day) or an RFC 3339
	// time; empty means never.
	Expires string `yaml:"expires,omitempty"`

	expiry time.Time
}

// ParseIgnore reads an ignore file. Unknown keys, entries without an id
// or a reason, and unreadable expiry dates are errors: a typo must not
// silently stop (or start) suppressing findings.
func ParseIgnore(r io.Reader) (*IgnoreFile, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDocument+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("%w: ignore file larger than %d bytes", ErrInvalid, maxDocument)
	}
	var f IgnoreFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: ignore file: %w", ErrInvalid, err)
	}
	for i := range f.Entries {
		e := &f.Entries[i]
		e.ID, e.Package = strings.TrimSpace(e.ID), strings.TrimSpace(e.Package)
		if e.ID == "" {
			return nil, fmt.Errorf("%w: ignore entry %d: missing id", ErrInvalid, i+1)
		}
		if strings.TrimSpace(e.Reason) == "" {
			return nil, fmt.Errorf("%w: ignore entry %d (%s): missing reason", ErrInvalid, i+1, e.ID)
		}
		if e.Expires != "" {
			t, err := parseExpiry(e.Expires)
			if err != nil {
				return nil, fmt.Errorf("%w: ignore entry %d (%s): expires: %w", ErrInvalid, i+1, e.ID, err)
			}
			e.expiry = t
		}
	}
	return &f, nil
}

// parseExpiry returns the first instant the entry no longer applies.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	return time.Parse(time.RFC3339, s)
}

// Expired reports whether the entry no longer applies at now.
func (e *IgnoreEntry) Expired(now time.Time) bool {
	return !e.expiry.IsZero() && !now.Before(e.expiry)
}

func (e *IgnoreEntry) matches(f *report.Finding) bool {
	if !f.HasID(e.ID) {
		return false
	}
	if e.Package == "" {
		return true
	}
	p := f.Package
	return strings.EqualFold(e.Package, p.Name) || strings.EqualFold(e.Package, p.SourceName) ||
		(p.PURL != "" && (e.Package == p.PURL || strings.HasPrefix(p.PURL, e.Package+"@")))
}
