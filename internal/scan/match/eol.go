package match

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
)

// osProducts maps os-release IDs to endoflife.date products.
var osProducts = map[string]string{
	"debian": "debian", "ubuntu": "ubuntu", "alpine": "alpine-linux", "rhel": "rhel",
	"rocky": "rocky-linux", "almalinux": "almalinux", "amzn": "amazon-linux",
}

// endOfLife reports the OS release and the language runtimes of inv that
// are past their support dates.
func (m *Matcher) endOfLife(inv *catalog.Inventory) ([]report.Finding, error) {
	now := m.now()
	var out []report.Finding
	if d := inv.Distro; d != nil && d.VersionID != "" {
		if product, ok := osProducts[strings.ToLower(d.ID)]; ok {
			rel := d.VersionID
			switch product {
			case "debian", "rhel", "rocky-linux", "almalinux":
				rel, _, _ = strings.Cut(rel, ".")
			case "alpine-linux":
				rel = majorMinor(rel)
			}
			name := d.PrettyName
			if name == "" {
				name = d.ID + " " + d.VersionID
			}
			f, err := m.eolFinding(product, rel, now, report.Package{Ecosystem: "os", Name: d.ID, Version: d.VersionID, Type: "os"}, name)
			if err != nil {
				return nil, err
			}
			if f != nil {
				out = append(out, *f)
			}
		}
	}
	seen := map[string]bool{}
	for i := range inv.Packages {
		p := &inv.Packages[i]
		product, rel := runtimeRelease(p)
		if product == "" || seen[product+"@"+rel+"@"+p.Layer] {
			continue
		}
		seen[product+"@"+rel+"@"+p.Layer] = true
		f, err := m.eolFinding(product, rel, now, packageOf(p), product+" "+rel)
		if err != nil {
			return nil, err
		}
		if f != nil {
			out = append(out, *f)
		}
	}
	return out, nil
}

// runtimeRelease names the endoflife.date product and release line of a
// language runtime package, or "" when p is not one.
func runtimeRelease(p *catalog.Package) (product, release string) {
	v := strings.TrimPrefix(strings.TrimPrefix(p.Version, "go"), "v")
	switch {
	case p.Ecosystem == catalog.Go && isGoToolchain(p):
		return "go", majorMinor(v)
	case p.Type != "runtime":
		return "", ""
	}
	switch strings.ToLower(p.Name) {
	case "python", "python3", "cpython":
		return "python", majorMinor(v)
	case "node", "nodejs":
		major, _, _ := strings.Cut(v, ".")
		return "nodejs", major
	case "java", "openjdk", "jdk", "jre":
		major, _, _ := strings.Cut(v, ".")
		return "eclipse-temurin", major
	}
	return "", ""
}

func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	// Strip pre-release tails like "21rc2".
	minor := parts[1]
	if i := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = parts[1][:i]
	}
	return parts[0] + "." + minor
}

func (m *Matcher) eolFinding(product, rel string, now time.Time, pkg report.Package, display string) (*report.Finding, error) {
	p, ok, err := m.db.EOL(product)
	if err != nil || !ok {
		return nil, err
	}
	end, ext, known := releaseEnd(p, product, rel)
	if !known || now.Before(end) {
		return nil, nil
	}
	e := &report.EndOfLife{Product: product, Release: rel, Date: end}
	sev := report.High
	summary := fmt.Sprintf("%s is past its end of life", display)
	if !end.IsZero() {
		summary = fmt.Sprintf("%s reached end of support on %s", display, end.Format(time.DateOnly))
	}
	if ext.After(now) {
		// Extended (LTS) support still runs: a risk to plan for, not an
		// emergency.
		sev = report.Medium
		e.Extended = ext
		summary += fmt.Sprintf("; extended support until %s", ext.Format(time.DateOnly))
	}
	id := "EOL-" + product + "-" + rel
	return &report.Finding{
		ID: id, IDs: []string{id}, Kind: report.KindEndOfLife, Package: pkg,
		Installed: pkg.Version, Severity: sev, EndOfLife: e, Summary: summary, Status: "affected",
	}, nil
}

// releaseEnd finds when support for rel ended. Products whose releases
// carry no dates (the Go data) fall back to the product's policy: a Go
// minor line is supported until the second newer one is released.
func releaseEnd(p *vulndb.Product, product, rel string) (end, ext time.Time, ok bool) {
	for _, r := range p.Releases {
		if r.Name != rel {
			continue
		}
		end, ok = r.EndOfLife(false)
		if x, xok := r.EndOfLife(true); xok && x.After(end) {
			ext = x
		}
		return end, ext, ok
	}
	if product == "go" && len(p.Versions) > 0 {
		maj, min, found := strings.Cut(rel, ".")
		n, err := strconv.Atoi(min)
		if !found || err != nil {
			return time.Time{}, time.Time{}, false
		}
		next := fmt.Sprintf("%s.%d.0", maj, n+2)
		if d, ok := p.Versions[next]; ok {
			t, err := time.Parse(time.DateOnly, d)
			return t, time.Time{}, err == nil
		}
	}
	return time.Time{}, time.Time{}, false
}
