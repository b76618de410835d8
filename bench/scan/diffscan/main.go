// Command diffscan compares the findings of `moat scan -f json` with those
// of `osv-scanner --format json` on the same image: a finding of one tool
// matches one of the other when they name the same package and share an
// id or alias. It prints per-ecosystem counts and every finding only one
// tool reports. Debian findings are compared by source package, the way
// both tools match them; end-of-life findings (moat only) are listed apart.
//
//	go run ./bench/scan/diffscan MOAT.json OSV.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type finding struct {
	eco, pkg, version string
	ids               map[string]bool
	matched           bool
}

func (f *finding) key() string { return f.eco + " " + f.pkg }

func (f *finding) String() string {
	ids := make([]string, 0, len(f.ids))
	for id := range f.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return fmt.Sprintf("%-9s %s@%s  %s", f.eco, f.pkg, f.version, strings.Join(ids, " "))
}

// normVersion drops the "v" Go tools print and osv-scanner does not.
func normVersion(eco, v string) string {
	if eco == "Go" {
		return strings.TrimPrefix(v, "v")
	}
	return v
}

func baseEco(e string) string {
	b, _, _ := strings.Cut(e, ":")
	return b
}

func set(ids ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, l := range ids {
		for _, id := range l {
			m[id] = true
		}
	}
	return m
}

func loadMoat(path string) (vulns, eol []*finding, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var r struct {
		Findings []struct {
			IDs     []string `json:"ids"`
			Kind    string   `json:"kind"`
			Package struct {
				Ecosystem, Name, Version, SourceName string
			} `json:"package"`
			Installed string `json:"installed"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]*finding{}
	for _, f := range r.Findings {
		eco := baseEco(f.Package.Ecosystem)
		x := &finding{eco: eco, pkg: f.Package.Name, version: normVersion(eco, f.Package.Version), ids: set(f.IDs)}
		if f.Kind == "end-of-life" {
			eol = append(eol, x)
			continue
		}
		if x.eco == "Debian" || x.eco == "Ubuntu" || x.eco == "Alpine" {
			if f.Package.SourceName != "" {
				x.pkg = f.Package.SourceName
			}
			x.version = f.Installed
			// One finding per source package, as osv-scanner reports.
			k := x.key() + " " + strings.Join(f.IDs, ",")
			if seen[k] != nil {
				continue
			}
			seen[k] = x
		}
		if x.eco == "PyPI" {
			x.pkg = strings.ToLower(x.pkg)
		}
		vulns = append(vulns, x)
	}
	return vulns, eol, nil
}

func loadOSV(path string) ([]*finding, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r struct {
		Results []struct {
			Packages []struct {
				Package struct {
					Name, Version, Ecosystem string
				} `json:"package"`
				Groups []struct {
					IDs     []string `json:"ids"`
					Aliases []string `json:"aliases"`
				} `json:"groups"`
			} `json:"packages"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []*finding
	for _, res := range r.Results {
		for _, p := range res.Packages {
			for _, g := range p.Groups {
				eco := baseEco(p.Package.Ecosystem)
				x := &finding{eco: eco, pkg: p.Package.Name, version: normVersion(eco, p.Package.Version), ids: set(g.IDs, g.Aliases)}
				if x.eco == "PyPI" {
					x.pkg = strings.ToLower(x.pkg)
				}
				out = append(out, x)
			}
		}
	}
	return out, nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: diffscan MOAT.json OSV.json")
		os.Exit(2)
	}
	moat, eol, err := loadMoat(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	osv, err := loadOSV(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	byKey := map[string][]*finding{}
	for _, o := range osv {
		byKey[o.key()] = append(byKey[o.key()], o)
	}
	for _, m := range moat {
		for _, o := range byKey[m.key()] {
			if m.version != o.version && m.eco != "Debian" {
				continue
			}
			for id := range m.ids {
				if o.ids[id] {
					m.matched, o.matched = true, true
					break
				}
			}
		}
	}
	type counts struct{ both, moatOnly, osvOnly int }
	per := map[string]*counts{}
	get := func(e string) *counts {
		if per[e] == nil {
			per[e] = &counts{}
		}
		return per[e]
	}
	var onlyMoat, onlyOSV []*finding
	for _, m := range moat {
		if m.matched {
			get(m.eco).both++
		} else {
			get(m.eco).moatOnly++
			onlyMoat = append(onlyMoat, m)
		}
	}
	for _, o := range osv {
		if !o.matched {
			get(o.eco).osvOnly++
			onlyOSV = append(onlyOSV, o)
		}
	}
	ecos := make([]string, 0, len(per))
	for e := range per {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	fmt.Printf("%-10s %6s %10s %16s\n", "ECOSYSTEM", "BOTH", "MOAT ONLY", "OSV-SCANNER ONLY")
	for _, e := range ecos {
		c := per[e]
		fmt.Printf("%-10s %6d %10d %16d\n", e, c.both, c.moatOnly, c.osvOnly)
	}
	fmt.Printf("\nmoat: %d findings, osv-scanner: %d finding groups, %d end-of-life findings (moat only)\n", len(moat), len(osv), len(eol))
	show := func(title string, fs []*finding) {
		fmt.Printf("\n%s (%d)\n", title, len(fs))
		sort.Slice(fs, func(i, j int) bool { return fs[i].String() < fs[j].String() })
		for _, f := range fs {
			fmt.Println("  " + f.String())
		}
	}
	show("only moat", onlyMoat)
	show("only osv-scanner", onlyOSV)
	show("end of life (moat only)", eol)
}
