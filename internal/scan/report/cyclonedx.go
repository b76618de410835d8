package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// WriteCycloneDX writes a CycloneDX 1.6 JSON BOM holding the affected
// packages as components and the findings as vulnerabilities (suppressed
// ones carry their VEX analysis). Secrets and misconfigurations have no
// place in CycloneDX's vulnerability model and are left out.
func WriteCycloneDX(w io.Writer, r *Report) error {
	bom := cdx.NewBOM()
	bom.SerialNumber = ""
	bom.Metadata = &cdx.Metadata{
		Timestamp: r.Created.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "moat"}}},
		Component: &cdx.Component{
			BOMRef: "target", Type: cdx.ComponentTypeContainer, Name: r.Target, Version: r.Image,
		},
	}
	comps := map[string]*cdx.Component{}
	var order []string
	ref := func(p Package) string {
		key := p.PURL
		if key == "" {
			key = fmt.Sprintf("%s:%s@%s", p.Ecosystem, p.Name, p.Version)
		}
		if len(p.Paths) > 0 {
			key += "#" + p.Paths[0]
		}
		if _, ok := comps[key]; !ok {
			c := &cdx.Component{BOMRef: key, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: p.PURL}
			if p.Type == "os" {
				c.Type = cdx.ComponentTypeOS
			}
			var props []cdx.Property
			if p.Layer != "" {
				props = append(props, cdx.Property{Name: "moat:layer", Value: p.Layer})
			}
			for _, path := range p.Paths {
				props = append(props, cdx.Property{Name: "moat:path", Value: path})
			}
			if len(props) > 0 {
				c.Properties = &props
			}
			comps[key] = c
			order = append(order, key)
		}
		return key
	}
	var vulns []cdx.Vulnerability
	add := func(f *Finding, suppressed bool) {
		if located(f) {
			return
		}
		v := cdx.Vulnerability{
			BOMRef:      fmt.Sprintf("%s/%d", f.ID, len(vulns)),
			ID:          f.ID,
			Description: f.Summary,
			Affects: &[]cdx.Affects{{Ref: ref(f.Package), Range: &[]cdx.AffectedVersions{{
				Version: f.Installed, Status: cdx.VulnerabilityStatusAffected,
			}}}},
		}
		if !f.Published.IsZero() {
			v.Published = f.Published.UTC().Format(time.RFC3339)
		}
		rating := cdx.VulnerabilityRating{Severity: cdxSeverity(f.Severity)}
		if f.Score > 0 {
			score := f.Score
			rating.Score = &score
			rating.Vector = f.Vector
			rating.Method = cdxMethod(f.Vector)
		}
		v.Ratings = &[]cdx.VulnerabilityRating{rating}
		if f.FixedIn != "" {
			v.Recommendation = "Upgrade " + f.Package.Name + " to " + f.FixedIn
		}
		var refs []cdx.VulnerabilityReference
		for _, id := range f.IDs[1:] {
			refs = append(refs, cdx.VulnerabilityReference{ID: id, Source: &cdx.Source{Name: idSource(id)}})
		}
		if len(refs) > 0 {
			v.References = &refs
		}
		var advs []cdx.Advisory
		for _, u := range f.References {
			advs = append(advs, cdx.Advisory{URL: u})
		}
		if len(advs) > 0 {
			v.Advisories = &advs
		}
		v.Source = &cdx.Source{Name: idSource(f.ID)}
		var props []cdx.Property
		if f.KEV != nil {
			props = append(props, cdx.Property{Name: "moat:kev:dateAdded", Value: f.KEV.DateAdded},
				cdx.Property{Name: "moat:kev:ransomware", Value: fmt.Sprint(f.KEV.Ransomware)})
		}
		if f.EPSS != nil {
			props = append(props, cdx.Property{Name: "moat:epss:score", Value: fmt.Sprint(f.EPSS.Score)},
				cdx.Property{Name: "moat:epss:percentile", Value: fmt.Sprint(f.EPSS.Percentile)})
		}
		if len(props) > 0 {
			v.Properties = &props
		}
		if suppressed {
			a := &cdx.VulnerabilityAnalysis{Detail: f.Justification}
			switch f.Status {
			case "fixed":
				a.State = cdx.IASResolved
			case "not_affected":
				a.State = cdx.IASNotAffected
			default:
				a.State = cdx.IASFalsePositive
				a.Detail = strings.TrimSpace("ignored: " + f.Justification)
			}
			v.Analysis = a
		} else {
			v.Analysis = &cdx.VulnerabilityAnalysis{State: cdx.IASExploitable}
		}
		vulns = append(vulns, v)
	}
	for i := range r.Findings {
		add(&r.Findings[i], false)
	}
	for i := range r.Suppressed {
		add(&r.Suppressed[i], true)
	}
	sort.Strings(order)
	cs := make([]cdx.Component, 0, len(order))
	for _, k := range order {
		cs = append(cs, *comps[k])
	}
	bom.Components = &cs
	bom.Vulnerabilities = &vulns
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	return enc.EncodeVersion(bom, cdx.SpecVersion1_6)
}

func cdxSeverity(s Severity) cdx.Severity {
	switch s {
	case Critical:
		return cdx.SeverityCritical
	case High:
		return cdx.SeverityHigh
	case Medium:
		return cdx.SeverityMedium
	case Low:
		return cdx.SeverityLow
	}
	return cdx.SeverityUnknown
}

func cdxMethod(vector string) cdx.ScoringMethod {
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		return cdx.ScoringMethodCVSSv31
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		return cdx.ScoringMethodCVSSv3
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		return cdx.ScoringMethodCVSSv4
	case strings.HasPrefix(vector, "AV:"):
		return cdx.ScoringMethodCVSSv2
	}
	return cdx.ScoringMethodOther
}

// idSource names the database an identifier belongs to.
func idSource(id string) string {
	prefix, _, _ := strings.Cut(id, "-")
	switch prefix {
	case "CVE":
		return "NVD"
	case "GHSA":
		return "GitHub"
	case "GO":
		return "Go Vulnerability Database"
	case "PYSEC":
		return "PyPA"
	case "RUSTSEC":
		return "RustSec"
	case "DSA", "DLA", "DEBIAN", "DEBCL":
		return "Debian"
	case "EOL":
		return "endoflife.date"
	}
	return "OSV"
}
