package report

import "testing"

func TestCheckGate(t *testing.T) {
	r := &Report{Findings: []Finding{
		{ID: "CVE-2020-1", Severity: Medium, Package: Package{Name: "zlib"}},
		{ID: "CVE-2021-44228", Severity: Critical, Package: Package{Name: "log4j-core"}},
		{ID: "CVE-2022-2", Severity: High, Package: Package{Name: "openssl"}},
		{ID: "github-token", Severity: Critical, Kind: KindSecret, Location: &Location{Path: "/app/.env", Line: 3}},
		{ID: "CVE-2022-3", Severity: High, Package: Package{Name: "curl"}},
	}}
	for _, tc := range []struct {
		threshold Severity
		names     int
		want      string
	}{
		{High, 3, "4 findings at or above HIGH (2 CRITICAL, 2 HIGH): CVE-2021-44228 (log4j-core), github-token (/app/.env:3), CVE-2022-2 (openssl) and 1 more"},
		{Critical, 5, "2 findings at or above CRITICAL (2 CRITICAL): CVE-2021-44228 (log4j-core), github-token (/app/.env:3)"},
		{Low, 1, "5 findings at or above LOW (2 CRITICAL, 2 HIGH, 1 MEDIUM): CVE-2021-44228 (log4j-core) and 4 more"},
	} {
		g := CheckGate(r, tc.threshold, tc.names)
		if !g.Tripped() || g.String() != tc.want {
			t.Errorf("CheckGate(%s, %d) = %q\nwant %q", tc.threshold, tc.names, g, tc.want)
		}
	}
	one := CheckGate(&Report{Findings: r.Findings[:1]}, Medium, 5)
	if got, want := one.String(), "1 finding at or above MEDIUM (1 MEDIUM): CVE-2020-1 (zlib)"; got != want {
		t.Errorf("one finding: %q, want %q", got, want)
	}
	if g := CheckGate(&Report{Findings: r.Findings[:1]}, High, 5); g.Tripped() || g.String() != "no finding at or above HIGH" {
		t.Errorf("below the threshold: tripped %v, %q", g.Tripped(), g)
	}
}
