package suppress

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/report"
)

const image = "sha256:b05ffa1681ba3b188790a7f98ee4f78743fcebb0f8cc4e9ec24e4b2e6d7508a0"

func finding(id, pkg, version string, ids ...string) report.Finding {
	return report.Finding{
		ID: id, IDs: append([]string{id}, ids...), Kind: report.KindVulnerability, Status: "affected",
		Package: report.Package{Ecosystem: "npm", Name: pkg, Version: version, PURL: "pkg:npm/" + pkg + "@" + version},
	}
}

func sample() *report.Report {
	return &report.Report{Image: image, Findings: []report.Finding{
		finding("CVE-2021-23337", "lodash", "4.17.15", "GHSA-35jh-r3h4-6jhm"),
		finding("CVE-2020-8203", "lodash", "4.17.15", "GHSA-p6mc-m468-83gw"),
		finding("CVE-2021-44906", "minimist", "1.2.0"),
		finding("CVE-2022-24785", "moment", "2.29.1", "GHSA-8hfj-j24r-96c4"),
		finding("CVE-2020-11022", "jquery", "3.4.0"),
		finding("CVE-2024-29041", "express", "4.16.0"),
		finding("CVE-2022-24999", "qs", "6.5.1"),
		finding("CVE-2021-23337", "lodash-es", "4.17.15"),
	}}
}

func load(t *testing.T) (*IgnoreFile, *VEX) {
	t.Helper()
	f, err := os.Open("testdata/ignore.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ig, err := ParseIgnore(f)
	if err != nil {
		t.Fatal(err)
	}
	v, err := os.Open("testdata/openvex.json")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	vex, err := ParseVEX(v)
	if err != nil {
		t.Fatal(err)
	}
	return ig, vex
}

func TestApply(t *testing.T) {
	ig, vex := load(t)
	r := sample()
	Apply(r, ig, []*VEX{vex}, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	status := map[string]string{}
	for _, f := range r.Suppressed {
		status[f.ID+" "+f.Package.Name] = f.Status
	}
	for _, f := range r.Findings {
		status[f.ID+" "+f.Package.Name] = "kept"
	}
	want := map[string]string{
		"CVE-2021-23337 lodash":    "ignored",      // id and package match
		"CVE-2020-8203 lodash":     "ignored",      // matched through its GHSA alias
		"CVE-2021-44906 minimist":  "kept",         // entry expired on 2020-01-01
		"CVE-2022-24785 moment":    "not_affected", // VEX subcomponent of this image
		"CVE-2020-11022 jquery":    "kept",         // a later "affected" statement revokes
		"CVE-2024-29041 express":   "fixed",
		"CVE-2022-24999 qs":        "kept", // statement about another image
		"CVE-2021-23337 lodash-es": "kept", // ignore entry names another package
	}
	for k, w := range want {
		if status[k] != w {
			t.Errorf("%s: %s, want %s", k, status[k], w)
		}
	}
	for _, f := range r.Suppressed {
		if f.Justification == "" {
			t.Errorf("%s suppressed without justification", f.ID)
		}
	}
}

func TestExpiry(t *testing.T) {
	ig, err := ParseIgnore(strings.NewReader("ignore:\n  - id: CVE-1\n    reason: r\n    expires: 2026-11-23\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := &ig.Entries[0]
	for _, tc := range []struct {
		now     time.Time
		expired bool
	}{
		{time.Date(2026, 11, 23, 23, 59, 0, 0, time.UTC), false}, // valid through the day
		{time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), true},
	} {
		if got := e.Expired(tc.now); got != tc.expired {
			t.Errorf("Expired(%v) = %v, want %v", tc.now, got, tc.expired)
		}
	}
}

func TestParseIgnoreErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"no id":       "ignore:\n  - reason: r\n",
		"no reason":   "ignore:\n  - id: CVE-1\n",
		"bad date":    "ignore:\n  - id: CVE-1\n    reason: r\n    expires: soon\n",
		"unknown key": "ignore:\n  - id: CVE-1\n    reason: r\n    expiry: 2026-01-01\n",
		"not yaml":    "ignore: [",
	} {
		if _, err := ParseIgnore(strings.NewReader(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if ig, err := ParseIgnore(strings.NewReader("")); err != nil || len(ig.Entries) != 0 {
		t.Errorf("empty file: %v %v", ig, err)
	}
}

func TestParseVEXErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":       `{`,
		"not openvex":    `{"@context":"https://cyclonedx.org","statements":[]}`,
		"bad status":     `{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"status":"maybe"}]}`,
		"no vuln":        `{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{},"status":"fixed"}]}`,
		"bad product":    `{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":"CVE-1","products":[3],"status":"fixed"}]}`,
		"vuln is number": `{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":7,"status":"fixed"}]}`,
	} {
		if _, err := ParseVEX(strings.NewReader(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	// OpenVEX 0.0.1: vulnerability and products as plain strings.
	v, err := ParseVEX(strings.NewReader(`{"@context":"https://openvex.dev/ns","statements":[{"vulnerability":"CVE-2021-44906","products":["pkg:npm/minimist@1.2.0"],"status":"not_affected"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := &report.Report{Findings: []report.Finding{finding("CVE-2021-44906", "minimist", "1.2.0"), finding("CVE-2021-44906", "minimist", "0.0.10")}}
	Apply(r, nil, []*VEX{v}, time.Now())
	if len(r.Findings) != 1 || r.Findings[0].Package.Version != "0.0.10" {
		t.Errorf("v0.0.1 statement applied to %v", r.Suppressed)
	}
}

func FuzzParseIgnore(f *testing.F) {
	b, err := os.ReadFile("testdata/ignore.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("ignore:\n  - id: X\n    reason: y\n    expires: 2026-01-01T00:00:00Z\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ig, err := ParseIgnore(strings.NewReader(string(b)))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		for _, e := range ig.Entries {
			if e.ID == "" || strings.TrimSpace(e.Reason) == "" {
				t.Fatal("accepted an entry without id or reason")
			}
		}
		r := sample()
		Apply(r, ig, nil, time.Now())
	})
}

func FuzzParseVEX(f *testing.F) {
	b, err := os.ReadFile("testdata/openvex.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"@context":"https://openvex.dev/ns","statements":[{"vulnerability":"CVE-1","products":["pkg:npm/a"],"status":"fixed"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVEX(strings.NewReader(string(b)))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		r := sample()
		n := len(r.Findings)
		Apply(r, nil, []*VEX{v}, time.Now())
		if len(r.Findings)+len(r.Suppressed) != n {
			t.Fatal("findings lost")
		}
	})
}
