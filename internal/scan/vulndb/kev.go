package vulndb

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// KEVEntry is one entry of the CISA Known Exploited Vulnerabilities catalog.
type KEVEntry struct {
	CVE       string `json:"cveID"`
	Name      string `json:"vulnerabilityName,omitempty"`
	DateAdded string `json:"dateAdded"`
	DueDate   string `json:"dueDate,omitempty"`
	// Ransomware is the catalog's knownRansomwareCampaignUse ("Known",
	// "Unknown").
	Ransomware string `json:"knownRansomwareCampaignUse,omitempty"`
}

// RansomwareKnown reports whether the catalog lists use in ransomware.
func (e KEVEntry) RansomwareKnown() bool { return strings.EqualFold(e.Ransomware, "Known") }

// ParseKEV reads the CISA KEV JSON feed.
func ParseKEV(r io.Reader) (map[string]KEVEntry, error) {
	var doc struct {
		Vulnerabilities []KEVEntry `json:"vulnerabilities"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: KEV: %w", ErrFormat, err)
	}
	if doc.Vulnerabilities == nil {
		return nil, fmt.Errorf("%w: KEV: no vulnerabilities array", ErrFormat)
	}
	out := make(map[string]KEVEntry, len(doc.Vulnerabilities))
	for _, v := range doc.Vulnerabilities {
		if v.CVE == "" {
			continue
		}
		out[v.CVE] = v
	}
	return out, nil
}
