package vulndb

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Release is one release line of a product in endoflife.date's release data.
type Release struct {
	Name        string `json:"name"`
	Codename    string `json:"codename,omitempty"`
	ReleaseDate string `json:"releaseDate,omitempty"`
	// EOL is the end of (regular security) support: a date, or "true" when
	// the source only says it ended, or empty when unknown/not ended.
	EOL string `json:"eol,omitempty"`
	// EOES is the end of extended support (e.g. Debian LTS), if any.
	EOES   string `json:"eoes,omitempty"`
	Latest string `json:"latest,omitempty"`
}

// Product is the release data of one product ("debian", "python", "go").
type Product struct {
	Releases []Release `json:"releases"`
	// Versions maps each published version to its release date; used to
	// derive end of life for products whose releases carry none (Go: a
	// minor line ends when the second newer one ships).
	Versions map[string]string `json:"versions,omitempty"`
}

// EndOfLife returns when support for the release ended or ends: the
// extended date when extended is set and known, otherwise the regular one.
// ok is false when the data gives no date; ended-without-date is reported
// as the zero time with ok true.
func (r Release) EndOfLife(extended bool) (t time.Time, ok bool) {
	s := r.EOL
	if extended && r.EOES != "" {
		s = r.EOES
	}
	switch s {
	case "", "false":
		return time.Time{}, false
	case "true":
		return time.Time{}, true
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// ParseEOL reads one endoflife.date release-data product file.
func ParseEOL(r io.Reader) (*Product, error) {
	var doc struct {
		Releases map[string]map[string]any `json:"releases"`
		Versions map[string]struct {
			Date string `json:"date"`
		} `json:"versions"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: endoflife: %w", ErrFormat, err)
	}
	p := &Product{}
	for name, rel := range doc.Releases {
		p.Releases = append(p.Releases, Release{
			Name:        name,
			Codename:    str(rel["codename"]),
			ReleaseDate: str(rel["releaseDate"]),
			EOL:         str(rel["eol"]),
			EOES:        str(rel["eoes"]),
			Latest:      str(rel["latest"]),
		})
	}
	if len(doc.Versions) > 0 {
		p.Versions = make(map[string]string, len(doc.Versions))
		for v, d := range doc.Versions {
			p.Versions[v] = d.Date
		}
	}
	return p, nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return ""
}
