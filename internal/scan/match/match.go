package match

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/match/version"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

// DB is what matching reads from the advisory database.
type DB interface {
	Lookup(ecosystem, name string) ([]*osv.Advisory, error)
	KEV(cve string) (vulndb.KEVEntry, bool, error)
	EPSS(cve string) (vulndb.EPSS, bool, error)
	EOL(product string) (*vulndb.Product, bool, error)
}

// AliasDB is an optional extension of DB: given it, a vulnerability that
// its matched records leave unrated takes the rating of an alias record
// held for another ecosystem (a GHSA record rating a GO- record's CVE).
type AliasDB interface {
	Advisory(id string) (*osv.Advisory, error)
}

// Option configures a Matcher.
type Option func(*Matcher) error

// WithClock sets the clock end-of-life findings are judged by (default
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(m *Matcher) error {
		if now == nil {
			return errors.New("nil clock")
		}
		m.now = now
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(m *Matcher) error {
		if l == nil {
			return errors.New("nil logger")
		}
		m.log = l
		return nil
	}
}

// Matcher matches inventories against a database. It is safe for
// concurrent use.
type Matcher struct {
	db  DB
	now func() time.Time
	log *slog.Logger
}

// New returns a Matcher reading db.
func New(db DB, opts ...Option) (*Matcher, error) {
	if db == nil {
		return nil, errors.New("match: nil database")
	}
	m := &Matcher{db: db, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, fmt.Errorf("match: %w", err)
		}
	}
	return m, nil
}

// Result is the outcome of matching one inventory.
type Result struct {
	Findings []report.Finding
	// Warnings are packages that could not be judged (unparsable
	// versions, unknown distribution releases).
	Warnings []string
}

// target is what one package is looked up as.
type target struct {
	keys    []vulndb.Key
	version string
}

// hit is one advisory that affects a target.
type hit struct {
	adv   *osv.Advisory
	af    *osv.Affected
	fixed []string // upgrade candidates
	all   []string // every fixed version of the package's ranges
}

// Match finds the vulnerabilities and end-of-life releases of inv.
func (m *Matcher) Match(ctx context.Context, inv *catalog.Inventory) (*Result, error) {
	rs, err := m.MatchAll(ctx, []*catalog.Inventory{inv})
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// item is one package of one of the inventories being matched.
type item struct{ inv, pkg int }

// MatchAll matches many inventories at once, the result of each at the
// same index: what a rescan of stored inventories after an advisory
// update does.
//
// Packages are sharded by advisory key over GOMAXPROCS workers, each with
// its own caches, so binary packages of one source land on one worker,
// and each (advisory key, version) is judged once across all the
// inventories: a thousand images on one base image cost little more than
// one.
func (m *Matcher) MatchAll(ctx context.Context, invs []*catalog.Inventory) ([]*Result, error) {
	n := runtime.GOMAXPROCS(0)
	shards := make([][]item, n)
	results := make([]*Result, len(invs))
	warned := make([]map[string]bool, len(invs))
	targets := make([][]target, len(invs))
	for ii, inv := range invs {
		results[ii], warned[ii] = &Result{}, map[string]bool{}
		warn := func(format string, args ...any) { addWarning(results[ii], warned[ii], fmt.Sprintf(format, args...)) }
		targets[ii] = make([]target, len(inv.Packages))
		for i := range inv.Packages {
			t, ok := m.targetOf(inv.Distro, &inv.Packages[i], warn)
			if !ok {
				continue
			}
			targets[ii][i] = t
			h := fnv.New32a()
			h.Write([]byte(t.keys[0].String()))
			w := h.Sum32() % uint32(n)
			shards[w] = append(shards[w], item{ii, i})
		}
	}
	parts := make([][]*Result, n) // per shard, per inventory
	g, gctx := errgroup.WithContext(ctx)
	for w := range n {
		g.Go(func() error {
			r, err := m.matchShard(gctx, invs, targets, shards[w])
			parts[w] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for ii, inv := range invs {
		res := results[ii]
		for _, part := range parts {
			if r := part[ii]; r != nil {
				res.Findings = append(res.Findings, r.Findings...)
				for _, w := range r.Warnings {
					addWarning(res, warned[ii], w)
				}
			}
		}
		fs, err := m.endOfLife(inv)
		if err != nil {
			return nil, err
		}
		res.Findings = append(res.Findings, fs...)
		Sort(res.Findings)
		sort.Strings(res.Warnings)
	}
	return results, nil
}

func addWarning(r *Result, seen map[string]bool, w string) {
	if !seen[w] {
		seen[w] = true
		r.Warnings = append(r.Warnings, w)
	}
}

// judged is the outcome for one (advisory keys, version): the findings
// with the package left to fill in, and the warnings met on the way.
type judged struct {
	findings []report.Finding
	warnings []string
}

// matchShard judges the packages items of invs, returning per inventory
// what it found; it owns its caches.
func (m *Matcher) matchShard(ctx context.Context, invs []*catalog.Inventory, targets [][]target, items []item) ([]*Result, error) {
	out := make([]*Result, len(invs))
	// Binary packages built from one source, and the same package in
	// many images, share their advisories; judge each (key, version) once.
	type cacheKey struct{ keys, version string }
	cache := map[cacheKey]*judged{}
	cmps := map[string]*cachingComparator{}
	for j, it := range items {
		if j%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		p, t := &invs[it.inv].Packages[it.pkg], targets[it.inv][it.pkg]
		ck := cacheKey{fmt.Sprint(t.keys), t.version}
		jd, seen := cache[ck]
		if !seen {
			jd = &judged{}
			hits, err := m.judgeTarget(t, cmps, func(format string, args ...any) {
				jd.warnings = append(jd.warnings, fmt.Sprintf(format, args...))
			}, p)
			if err != nil {
				return nil, err
			}
			if len(hits) > 0 {
				if jd.findings, err = m.findings(t, hits, cmps); err != nil {
					return nil, err
				}
			}
			cache[ck] = jd
		}
		if len(jd.findings) == 0 && len(jd.warnings) == 0 {
			continue
		}
		r := out[it.inv]
		if r == nil {
			r = &Result{}
			out[it.inv] = r
		}
		r.Warnings = append(r.Warnings, jd.warnings...)
		pkg := packageOf(p)
		for _, f := range jd.findings {
			f.Package = pkg
			r.Findings = append(r.Findings, f)
		}
	}
	return out, nil
}

// Keys returns the advisory keys inv's packages are judged by, each
// once: a change to the advisories of other keys cannot change inv's
// vulnerability findings. End-of-life findings depend on the release data
// instead.
func (m *Matcher) Keys(inv *catalog.Inventory) []vulndb.Key {
	seen := map[vulndb.Key]bool{}
	var out []vulndb.Key
	for i := range inv.Packages {
		t, ok := m.targetOf(inv.Distro, &inv.Packages[i], func(string, ...any) {})
		if !ok {
			continue
		}
		for _, k := range t.keys {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// Judged returns an inventory of the packages of inv that are judged by
// any of keys (compared as the database compares names): what a change
// to those keys' advisories can change. It keeps inv's image and distro.
func (m *Matcher) Judged(inv *catalog.Inventory, keys []vulndb.Key) *catalog.Inventory {
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[k.String()] = true
	}
	out := &catalog.Inventory{Image: inv.Image, Distro: inv.Distro, Layers: inv.Layers}
	for i := range inv.Packages {
		t, ok := m.targetOf(inv.Distro, &inv.Packages[i], func(string, ...any) {})
		if !ok {
			continue
		}
		for _, k := range t.keys {
			if want[k.String()] {
				out.Packages = append(out.Packages, inv.Packages[i])
				break
			}
		}
	}
	return out
}

// targetOf decides which advisories judge p, and by which version.
func (m *Matcher) targetOf(d *catalog.Distro, p *catalog.Package, warn func(string, ...any)) (target, bool) {
	if p.Version == "" {
		return target{}, false
	}
	switch p.Ecosystem {
	case catalog.Debian, catalog.Ubuntu, catalog.Alpine, catalog.RPM,
		"Red Hat", "Rocky Linux", "AlmaLinux", "openSUSE", "SUSE":
		ecos := distroEcosystems(d, p.Ecosystem)
		if len(ecos) == 0 {
			rel := "unknown release"
			if d != nil {
				rel = d.ID + " " + d.VersionID
			}
			warn("no advisories can be matched for %s packages of %s", p.Ecosystem, rel)
			return target{}, false
		}
		name, ver := p.Name, p.Version
		if p.SourceName != "" {
			name = p.SourceName
		}
		if p.SourceVersion != "" {
			ver = p.SourceVersion
		}
		t := target{version: ver}
		for _, e := range ecos {
			t.keys = append(t.keys, vulndb.Key{Ecosystem: e, Name: name})
		}
		return t, true
	}
	if p.OwnedByOS {
		return target{}, false // judged by the OS package that owns its files
	}
	if p.Ecosystem == catalog.Go && isGoToolchain(p) {
		return target{keys: []vulndb.Key{{Ecosystem: "Go", Name: "stdlib"}}, version: p.Version}, true
	}
	if p.Type == "runtime" {
		return target{}, false // other runtimes: end-of-life only
	}
	return target{keys: []vulndb.Key{{Ecosystem: string(p.Ecosystem), Name: p.Name}}, version: p.Version}, true
}

func isGoToolchain(p *catalog.Package) bool {
	return p.Type == "go-stdlib" || p.Name == "stdlib" ||
		(p.Type == "runtime" && (p.Name == "go" || p.Name == "golang"))
}

// distroEcosystems names the OSV ecosystems of a distribution release.
func distroEcosystems(d *catalog.Distro, eco catalog.Ecosystem) []string {
	if d == nil {
		return nil
	}
	id := strings.ToLower(d.ID)
	v := d.VersionID
	if v == "" && id == "debian" {
		// Point releases in development name only a codename.
		v = debianCodenames[strings.ToLower(d.Codename)]
	}
	if v == "" {
		return nil
	}
	major, _, _ := strings.Cut(v, ".")
	switch {
	case id == "debian" || eco == catalog.Debian && id == "":
		return []string{"Debian:" + major}
	case id == "ubuntu":
		return []string{"Ubuntu:" + v + ":LTS", "Ubuntu:" + v}
	case id == "alpine":
		parts := strings.SplitN(v, ".", 3)
		if len(parts) < 2 {
			return nil
		}
		return []string{"Alpine:v" + parts[0] + "." + parts[1]}
	case id == "rocky":
		return []string{"Rocky Linux:" + major}
	case id == "almalinux":
		return []string{"AlmaLinux:" + major}
	}
	return nil
}

// debianCodenames maps codenames to the release numbers OSV keys by.
var debianCodenames = map[string]string{
	"stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14",
}

// judgeTarget collects the advisories affecting a target.
func (m *Matcher) judgeTarget(t target, cmps map[string]*cachingComparator, warn func(string, ...any), p *catalog.Package) ([]hit, error) {
	cmpFor := func(eco string) *cachingComparator {
		base, _, _ := strings.Cut(eco, ":")
		c, ok := cmps[base]
		if !ok {
			c = newCaching(version.For(base))
			cmps[base] = c
		}
		return c
	}
	semverCmp := cmpFor("semver")
	var hits []hit
	seen := map[string]bool{}
	for _, k := range t.keys {
		advs, err := m.db.Lookup(k.Ecosystem, k.Name)
		if err != nil {
			return nil, fmt.Errorf("lookup %s/%s: %w", k.Ecosystem, k.Name, err)
		}
		if len(advs) == 0 {
			continue
		}
		cmp := cmpFor(k.Ecosystem)
		iv, err := cmp.Parse(t.version)
		if err != nil {
			warn("%s %s: version %q cannot be compared: %v", p.Ecosystem, p.Name, t.version, err)
			return nil, nil
		}
		inst := t.version
		if isGo(cmp) {
			inst = strings.TrimPrefix(version.CanonicalGo(inst), "v")
		}
		norm := vulndb.NormalizeName(k.Ecosystem, k.Name)
		for _, a := range advs {
			if seen[a.ID] {
				continue
			}
			h := hit{adv: a}
			affected := false
			for j := range a.Affected {
				af := &a.Affected[j]
				if af.Ecosystem != k.Ecosystem || vulndb.NormalizeName(af.Ecosystem, af.Name) != norm {
					continue
				}
				// Several entries of one advisory describe branches of the
				// same package; all their fixes are listed.
				v := judge(cmp, semverCmp, af, inst, iv)
				h.all = append(h.all, v.all...)
				if v.affected {
					if !affected {
						h.af = af
					}
					affected = true
					h.fixed = append(h.fixed, v.fixed...)
				}
			}
			if affected {
				seen[a.ID] = true
				hits = append(hits, h)
			}
		}
		if len(hits) > 0 {
			// The first ecosystem with advisories (Ubuntu:22.04:LTS before
			// Ubuntu:22.04) is authoritative.
			break
		}
	}
	return hits, nil
}

// findings merges hits that are aliases of each other and builds one
// finding per vulnerability, without the package: the caller fills in
// each package judged by t.
func (m *Matcher) findings(t target, hits []hit, cmps map[string]*cachingComparator) ([]report.Finding, error) {
	groups := groupByAlias(hits)
	base, _, _ := strings.Cut(hits[0].af.Ecosystem, ":")
	var cmp version.Comparator = cmps[base]
	if cmps[base] == nil {
		cmp = version.For(base)
	}
	out := make([]report.Finding, 0, len(groups))
	for _, g := range groups {
		f := report.Finding{
			Kind:      report.KindVulnerability,
			Installed: t.version,
			Status:    "affected",
		}
		ids := map[string]bool{}
		var best rating
		fixed, all := map[string]bool{}, map[string]bool{}
		refs := map[string]bool{}
		for _, h := range g {
			for _, id := range h.adv.IDs() {
				ids[id] = true
			}
			if r := rate(h.adv, h.af); r.rank > 0 && (best.rank == 0 || r.better(best)) {
				best = r
			}
			for _, fx := range h.fixed {
				fixed[fx] = true
			}
			for _, fx := range h.all {
				all[fx] = true
			}
			if f.Summary == "" {
				f.Summary = h.adv.Summary
			}
			if f.Published.IsZero() || (!h.adv.Published.IsZero() && h.adv.Published.Before(f.Published)) {
				f.Published = h.adv.Published
			}
			for _, r := range h.adv.References {
				if !refs[r.URL] && len(f.References) < 20 {
					refs[r.URL] = true
					f.References = append(f.References, r.URL)
				}
			}
		}
		if best.rank == 0 {
			best = m.aliasRating(ids)
		}
		if f.Summary == "" {
			for _, h := range g {
				if f.Summary = firstSentence(h.adv.Details); f.Summary != "" {
					break
				}
			}
		}
		f.IDs = orderIDs(ids)
		f.ID = f.IDs[0]
		f.Severity, f.Score, f.Vector = best.sev, best.score, best.vector
		f.FixedIn = smallestAbove(cmp, fixed, t.version)
		f.Fixed = sortVersions(cmp, all)
		if err := m.enrich(&f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// aliasRating rates a vulnerability by alias records the database holds
// outside the matched package's ecosystem.
func (m *Matcher) aliasRating(ids map[string]bool) rating {
	adb, ok := m.db.(AliasDB)
	if !ok {
		return rating{}
	}
	var best rating
	for id := range ids {
		a, err := adb.Advisory(id)
		if err != nil {
			continue // not held: nothing to learn
		}
		if r := rate(a, nil); r.rank > 0 && (best.rank == 0 || r.better(best)) {
			best = r
		}
	}
	return best
}

// firstSentence makes a summary of details for records that have none
// (PyPA's): the first line, clipped.
func firstSentence(details string) string {
	s, _, _ := strings.Cut(strings.TrimSpace(details), "\n")
	if i := strings.Index(s, ". "); i > 0 {
		s = s[:i+1]
	}
	if r := []rune(s); len(r) > 160 {
		s = string(r[:159]) + "…"
	}
	return s
}

// enrich adds KEV and EPSS context from every CVE of the finding.
func (m *Matcher) enrich(f *report.Finding) error {
	for _, id := range f.IDs {
		if !strings.HasPrefix(id, "CVE-") {
			continue
		}
		k, ok, err := m.db.KEV(id)
		if err != nil {
			return err
		}
		if ok && f.KEV == nil {
			f.KEV = &report.KEV{CVE: id, DateAdded: k.DateAdded, DueDate: k.DueDate, Ransomware: k.RansomwareKnown()}
		}
		e, ok, err := m.db.EPSS(id)
		if err != nil {
			return err
		}
		if ok && (f.EPSS == nil || float64(e.Score) > f.EPSS.Score) {
			f.EPSS = &report.EPSS{CVE: id, Score: round4(float64(e.Score)), Percentile: round4(float64(e.Percentile))}
		}
	}
	return nil
}

func round4(x float64) float64 { return float64(int64(x*10000+0.5)) / 10000 }

func packageOf(p *catalog.Package) report.Package {
	return report.Package{
		Ecosystem: string(p.Ecosystem), Name: p.Name, Version: p.Version,
		SourceName: p.SourceName, SourceVersion: p.SourceVersion,
		PURL: p.PURL, Type: p.Type, Paths: p.Paths, Layer: p.Layer,
	}
}

// orderIDs puts the preferred id first (a CVE, then a GHSA, then the
// rest), the others sorted.
func orderIDs(set map[string]bool) []string {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	rank := func(id string) int {
		switch {
		case strings.HasPrefix(id, "CVE-"):
			return 0
		case strings.HasPrefix(id, "GHSA-"):
			return 1
		}
		return 2
	}
	sort.Slice(ids, func(i, j int) bool {
		if ri, rj := rank(ids[i]), rank(ids[j]); ri != rj {
			return ri < rj
		}
		return ids[i] < ids[j]
	})
	return ids
}

// smallestAbove picks the smallest version of set above installed: the
// upgrade that removes a finding.
func smallestAbove(cmp version.Comparator, set map[string]bool, installed string) string {
	iv, err := cmp.Parse(installed)
	if err != nil {
		return ""
	}
	var best version.Version
	bestS := ""
	for s := range set {
		v, err := cmp.Parse(s)
		if err != nil || v.Compare(iv) <= 0 {
			continue
		}
		if best == nil || v.Compare(best) < 0 || (v.Compare(best) == 0 && s < bestS) {
			best, bestS = v, s
		}
	}
	return bestS
}

// sortVersions lists set ascending by cmp, unparsable ones last. A caching
// comparator remembers each sorted list: every version of a package
// yields the same one.
func sortVersions(cmp version.Comparator, set map[string]bool) []string {
	strs := make([]string, 0, len(set))
	for s := range set {
		strs = append(strs, s)
	}
	sort.Strings(strs)
	cc, caching := cmp.(*cachingComparator)
	var key string
	if caching {
		key = strings.Join(strs, "\x00")
		if out, ok := cc.sorted[key]; ok {
			return out
		}
	}
	type pv struct {
		s string
		v version.Version
	}
	var vs []pv
	var bad []string
	for _, s := range strs {
		if v, err := cmp.Parse(s); err == nil {
			vs = append(vs, pv{s, v})
		} else {
			bad = append(bad, s)
		}
	}
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].v.Compare(vs[j].v) < 0 })
	out := make([]string, 0, len(set))
	for _, x := range vs {
		out = append(out, x.s)
	}
	out = append(out, bad...)
	if caching {
		cc.sorted[key] = out
	}
	return out
}

// Sort orders findings by severity (highest first), then package, then id.
func Sort(fs []report.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := &fs[i], &fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Package.Name != b.Package.Name {
			return a.Package.Name < b.Package.Name
		}
		if a.Package.Version != b.Package.Version {
			return a.Package.Version < b.Package.Version
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return strings.Join(a.Package.Paths, ",") < strings.Join(b.Package.Paths, ",")
	})
}
