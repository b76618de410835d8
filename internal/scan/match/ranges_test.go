package match

import (
	"slices"
	"testing"

	"github.com/moat-dev/moat/internal/scan/match/version"
	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

func ev(kind, v string) osv.Event {
	switch kind {
	case "i":
		return osv.Event{Introduced: v}
	case "f":
		return osv.Event{Fixed: v}
	case "l":
		return osv.Event{LastAffected: v}
	}
	return osv.Event{Limit: v}
}

func TestJudgeOSVSemantics(t *testing.T) {
	eco := func(events ...osv.Event) osv.Range { return osv.Range{Type: osv.RangeEcosystem, Events: events} }
	tests := []struct {
		name      string
		eco       string
		af        osv.Affected
		version   string
		want      bool
		wantFixed []string
	}{
		{"introduced 0, fixed: below", "npm", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "1.6.0"))}}, "1.5.9", true, []string{"1.6.0"}},
		{"fixed equals installed", "Go", osv.Affected{Ranges: []osv.Range{{Type: osv.RangeSemver, Events: []osv.Event{ev("i", "0"), ev("f", "1.6.0")}}}}, "1.6.0", false, nil},
		{"above fixed", "npm", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "1.6.0"))}}, "2.0.0", false, nil},
		{"below introduced", "npm", osv.Affected{Ranges: []osv.Range{eco(ev("i", "2.0.0"), ev("f", "2.1.0"))}}, "1.9.0", false, nil},
		{"introduced inclusive", "npm", osv.Affected{Ranges: []osv.Range{eco(ev("i", "2.0.0"), ev("f", "2.1.0"))}}, "2.0.0", true, []string{"2.1.0"}},
		{"last_affected inclusive", "PyPI", osv.Affected{Ranges: []osv.Range{eco(ev("i", "1.0"), ev("l", "1.4"))}}, "1.4", true, nil},
		{"after last_affected", "PyPI", osv.Affected{Ranges: []osv.Range{eco(ev("i", "1.0"), ev("l", "1.4"))}}, "1.4.post1", false, nil},
		{"introduced only: open ended", "PyPI", osv.Affected{Ranges: []osv.Range{eco(ev("i", "1.0"))}}, "99", true, nil},
		{"limit caps", "npm", osv.Affected{Ranges: []osv.Range{eco(ev("i", "1.0.0"), ev("lim", "1.5.0"))}}, "1.5.0", false, nil},
		{"below limit", "npm", osv.Affected{Ranges: []osv.Range{eco(ev("i", "1.0.0"), ev("lim", "1.5.0"))}}, "1.4.0", true, nil},
		{"two branches, in second", "Maven", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "2.3.1"), ev("i", "2.13.0"), ev("f", "2.15.0"))}}, "2.14.1", true, []string{"2.3.1", "2.15.0"}},
		{"two branches, between", "Maven", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "2.3.1"), ev("i", "2.13.0"), ev("f", "2.15.0"))}}, "2.10.0", false, nil},
		{"events out of order", "Maven", osv.Affected{Ranges: []osv.Range{eco(ev("f", "2.15.0"), ev("i", "2.13.0"), ev("f", "2.3.1"), ev("i", "0"))}}, "2.14.1", true, []string{"2.15.0", "2.3.1"}},
		{"multiple ranges", "npm", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "1.0.0")), eco(ev("i", "2.0.0"), ev("f", "2.0.5"))}}, "2.0.1", true, []string{"2.0.5"}},
		{"explicit versions", "PyPI", osv.Affected{Versions: []string{"2.0", "2.1"}}, "2.1", true, nil},
		{"explicit versions normalized", "PyPI", osv.Affected{Versions: []string{"2.1.0"}}, "2.1", true, nil},
		{"explicit versions miss", "PyPI", osv.Affected{Versions: []string{"2.0", "2.1"}}, "2.2", false, nil},
		{"GIT range ignored, versions decide", "PyPI", osv.Affected{Ranges: []osv.Range{{Type: osv.RangeGit, Events: []osv.Event{ev("i", "0"), ev("f", "3bd8afbff29e50b38f889b2f688785a669b9aafc")}}}, Versions: []string{"2.5.2"}}, "2.5.2", true, nil},
		{"GIT range alone", "PyPI", osv.Affected{Ranges: []osv.Range{{Type: osv.RangeGit, Events: []osv.Event{ev("i", "0"), ev("f", "3bd8afbff29e50b38f889b2f688785a669b9aafc")}}}}, "2.5.2", false, nil},
		{"unparsable event: range unusable", "npm", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "not a version"))}}, "1.0.0", false, nil},
		{"dpkg epoch", "Debian:12", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "1:2.0-1"))}}, "3.0-1", true, []string{"1:2.0-1"}},
		{"dpkg tilde", "Debian:12", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "2.0-1"))}}, "2.0~rc1-1", true, []string{"2.0-1"}},
		{"Go pseudo-version", "Go", osv.Affected{Ranges: []osv.Range{{Type: osv.RangeSemver, Events: []osv.Event{ev("i", "0"), ev("f", "0.0.0-20210520170846-37e1c6afe023")}}}}, "0.0.0-20200202094626-16171245cfb2", true, []string{"0.0.0-20210520170846-37e1c6afe023"}},
		{"Go pre-release introduced", "Go", osv.Affected{Ranges: []osv.Range{{Type: osv.RangeSemver, Events: []osv.Event{ev("i", "1.26.0-0"), ev("f", "1.26.1")}}}}, "1.26.0-rc.1", true, []string{"1.26.1"}},
		{"apk revision", "Alpine:v3.19", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "3.1.4-r1"))}}, "3.1.4-r0", true, []string{"3.1.4-r1"}},
		{"PEP 440 dev before release", "PyPI", osv.Affected{Ranges: []osv.Range{eco(ev("i", "0"), ev("f", "2.0"))}}, "2.0.dev3", true, []string{"2.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmp := version.For(tt.eco)
			inst := tt.version
			if _, ok := cmp.(version.Go); ok {
				inst = version.CanonicalGo(inst)[1:]
			}
			iv, err := cmp.Parse(inst)
			if err != nil {
				t.Fatal(err)
			}
			got := judge(cmp, version.Semver{}, &tt.af, inst, iv)
			if got.affected != tt.want {
				t.Errorf("affected = %v, want %v", got.affected, tt.want)
			}
			if tt.want && !slices.Equal(got.fixed, tt.wantFixed) {
				t.Errorf("fixed = %v, want %v", got.fixed, tt.wantFixed)
			}
		})
	}
}

func TestGroupByAlias(t *testing.T) {
	a := &osv.Advisory{ID: "GO-2021-0052", Aliases: []string{"CVE-2020-28483", "GHSA-h395-qcrw-5vmq"}}
	b := &osv.Advisory{ID: "GHSA-h395-qcrw-5vmq", Aliases: []string{"CVE-2020-28483"}}
	c := &osv.Advisory{ID: "GO-2023-1737", Aliases: []string{"CVE-2023-29401"}}
	d := &osv.Advisory{ID: "PYSEC-1", Aliases: []string{"CVE-2023-29401"}}
	groups := groupByAlias([]hit{{adv: a}, {adv: c}, {adv: b}, {adv: d}})
	if len(groups) != 2 || len(groups[0]) != 2 || groups[0][1].adv != b || groups[1][1].adv != d {
		t.Fatalf("groups = %v", groups)
	}
}

func TestFixedVersions(t *testing.T) {
	set := map[string]bool{"2.15.0-1": true, "2.3.1-1": true, "1:0.1-1": true, "2.12.2-1": true, "bogus!": true}
	for _, cmp := range []version.Comparator{version.For("Debian:12"), newCaching(version.For("Debian:12"))} {
		for range 2 { // the second round is served from the cache
			if all := sortVersions(cmp, set); !slices.Equal(all, []string{"2.3.1-1", "2.12.2-1", "2.15.0-1", "1:0.1-1", "bogus!"}) {
				t.Errorf("sortVersions = %v", all)
			}
		}
		for installed, want := range map[string]string{"2.14.1-1": "2.15.0-1", "2.0": "2.3.1-1", "2.15.0-1": "1:0.1-1", "1:0.1-1": "", "x y": ""} {
			if got := smallestAbove(cmp, set, installed); got != want {
				t.Errorf("smallestAbove(%q) = %q, want %q", installed, got, want)
			}
		}
	}
}

func TestScoreVector(t *testing.T) {
	for _, tc := range []struct {
		vec   string
		score float64
		ok    bool
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10, true},
		{"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1, true},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, true},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, true},
		{"CVSS:3.1/AV:X", 0, false},
		{"HIGH", 0, false},
	} {
		s, _, ok := ScoreVector(tc.vec)
		if ok != tc.ok || s != tc.score {
			t.Errorf("ScoreVector(%q) = %v, %v; want %v, %v", tc.vec, s, ok, tc.score, tc.ok)
		}
	}
}
