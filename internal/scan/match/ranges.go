package match

import (
	"sort"
	"strings"

	"github.com/moat-dev/moat/internal/scan/match/version"
	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

// verdict is the result of judging one affected entry.
type verdict struct {
	affected bool
	// fixed are the fixed versions of the ranges that contain the version
	// (all ranges' when only the explicit list matched): the candidates
	// for the upgrade.
	fixed []string
	// all are the fixed versions of every range, other branches included.
	all []string
}

// judge decides whether installed (parsed as iv by cmp) is affected by af.
// Unparsable event versions make that range unusable, never affected.
// semverCmp compares OSV SEMVER ranges, so callers can pass a caching
// comparator.
func judge(cmp, semverCmp version.Comparator, af *osv.Affected, installed string, iv version.Version) verdict {
	var v verdict
	if len(af.Versions) > 0 {
		// Explicit lists hold the registry's own spellings, often hundreds
		// of them: compare strings (after a cheap normalization), never
		// parse each one.
		canon := cheapCanon(installed)
		for _, ev := range af.Versions {
			if ev == installed || cheapCanon(ev) == canon {
				v.affected = true
				break
			}
		}
	}
	inRange := false
	for i := range af.Ranges {
		r := &af.Ranges[i]
		if r.Type == osv.RangeGit {
			continue // commits cannot be compared with versions
		}
		c, rv := cmp, iv
		if r.Type == osv.RangeSemver && !isGo(cmp) {
			if sv, err := semverCmp.Parse(installed); err == nil {
				c, rv = semverCmp, sv
			}
		}
		hit, fixed := evalRange(c, r.Events, rv)
		if hit {
			inRange = true
			v.fixed = append(v.fixed, fixed...)
		}
	}
	for i := range af.Ranges {
		for _, e := range af.Ranges[i].Events {
			if e.Fixed != "" && af.Ranges[i].Type != osv.RangeGit {
				v.all = append(v.all, e.Fixed)
			}
		}
	}
	if inRange {
		v.affected = true
	} else if v.affected {
		v.fixed = v.all
	}
	return v
}

// cheapCanon folds spellings that every ecosystem treats as equal: case,
// a leading "v", and trailing ".0" release components ("2.1.0" = "2.1").
func cheapCanon(s string) string {
	s = strings.ToLower(strings.TrimPrefix(s, "v"))
	for onlyDigitsDots(s) && strings.HasSuffix(s, ".0") {
		s = strings.TrimSuffix(s, ".0")
	}
	return s
}

func onlyDigitsDots(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

type parsedEvent struct {
	ev osv.Event
	v  version.Version // nil for introduced "0"
}

// evalRange applies the OSV evaluation: sort events by version, walk them,
// introduced opens, fixed (>=) and last_affected (>) close; a limit caps
// the range. It returns whether iv is inside and the fixed versions of the
// range.
func evalRange(cmp version.Comparator, events []osv.Event, iv version.Version) (bool, []string) {
	ps := make([]parsedEvent, 0, len(events))
	var limits []version.Version
	var fixed []string
	for _, e := range events {
		s := e.Introduced + e.Fixed + e.LastAffected + e.Limit
		if e.Introduced == "0" {
			ps = append(ps, parsedEvent{ev: e})
			continue
		}
		pv, err := cmp.Parse(s)
		if err != nil {
			return false, nil
		}
		if e.Limit != "" {
			if e.Limit != "*" {
				limits = append(limits, pv)
			}
			continue
		}
		if e.Fixed != "" {
			fixed = append(fixed, e.Fixed)
		}
		ps = append(ps, parsedEvent{ev: e, v: pv})
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].v, ps[j].v
		switch {
		case a == nil:
			return b != nil
		case b == nil:
			return false
		}
		return a.Compare(b) < 0
	})
	vuln := false
	for _, p := range ps {
		switch {
		case p.ev.Introduced != "":
			if p.v == nil || iv.Compare(p.v) >= 0 {
				vuln = true
			}
		case p.ev.Fixed != "":
			if iv.Compare(p.v) >= 0 {
				vuln = false
			}
		case p.ev.LastAffected != "":
			if iv.Compare(p.v) > 0 {
				vuln = false
			}
		}
	}
	for _, l := range limits {
		if iv.Compare(l) >= 0 {
			vuln = false
		}
	}
	return vuln, fixed
}

// isGo reports whether cmp compares Go versions, which are semver already
// (with pseudo-versions) and must not be re-read by plain semver.
func isGo(cmp version.Comparator) bool {
	switch c := cmp.(type) {
	case version.Go:
		return true
	case *cachingComparator:
		return isGo(c.c)
	}
	return false
}

// cachingComparator remembers parsed versions for the length of one Match:
// the same event versions recur for every package built from one source
// and every version of one module.
type cachingComparator struct {
	c      version.Comparator
	m      map[string]cachedVersion
	sorted map[string][]string // see sortVersions
}

type cachedVersion struct {
	v   version.Version
	err error
}

func newCaching(c version.Comparator) *cachingComparator {
	return &cachingComparator{c: c, m: map[string]cachedVersion{}, sorted: map[string][]string{}}
}

func (cc *cachingComparator) Parse(s string) (version.Version, error) {
	if x, ok := cc.m[s]; ok {
		return x.v, x.err
	}
	v, err := cc.c.Parse(s)
	cc.m[s] = cachedVersion{v, err}
	return v, err
}
