package match

import (
	"sort"

	"github.com/moat-dev/moat/internal/scan/match/version"
	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

// verdict is the result of judging one affected entry.
type verdict struct {
	affected bool
	// fixed are the fixed versions of the ranges that contain the version
	// (all ranges' when only the explicit list matched).
	fixed []string
}

// judge decides whether installed (parsed as iv by cmp) is affected by af.
// Unparsable event versions make that range unusable, never affected.
func judge(cmp version.Comparator, af *osv.Affected, installed string, iv version.Version) verdict {
	var v verdict
	for _, ev := range af.Versions {
		if ev == installed || equalVersion(cmp, ev, iv) {
			v.affected = true
			break
		}
	}
	inRange := false
	for i := range af.Ranges {
		r := &af.Ranges[i]
		if r.Type == osv.RangeGit {
			continue // commits cannot be compared with versions
		}
		c, rv := cmp, iv
		if r.Type == osv.RangeSemver {
			if _, isGo := cmp.(version.Go); !isGo {
				if sv, err := (version.Semver{}).Parse(installed); err == nil {
					c, rv = version.Semver{}, sv
				}
			}
		}
		hit, fixed := evalRange(c, r.Events, rv)
		if hit {
			inRange = true
			v.fixed = append(v.fixed, fixed...)
		}
	}
	if inRange {
		v.affected = true
	} else if v.affected {
		for i := range af.Ranges {
			for _, e := range af.Ranges[i].Events {
				if e.Fixed != "" && af.Ranges[i].Type != osv.RangeGit {
					v.fixed = append(v.fixed, e.Fixed)
				}
			}
		}
	}
	return v
}

func equalVersion(cmp version.Comparator, s string, iv version.Version) bool {
	ev, err := cmp.Parse(s)
	return err == nil && ev.Compare(iv) == 0
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
