package match

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

// fakeDB is an in-memory DB for unit tests of matching's own logic.
type fakeDB struct {
	advs []*osv.Advisory
	eol  map[string]*vulndb.Product
}

func (f *fakeDB) Lookup(eco, name string) ([]*osv.Advisory, error) {
	var out []*osv.Advisory
	for _, a := range f.advs {
		for _, af := range a.Affected {
			if af.Ecosystem == eco && vulndb.NormalizeName(eco, af.Name) == vulndb.NormalizeName(eco, name) {
				out = append(out, a)
				break
			}
		}
	}
	return out, nil
}
func (f *fakeDB) KEV(string) (vulndb.KEVEntry, bool, error) { return vulndb.KEVEntry{}, false, nil }
func (f *fakeDB) EPSS(string) (vulndb.EPSS, bool, error)    { return vulndb.EPSS{}, false, nil }
func (f *fakeDB) EOL(p string) (*vulndb.Product, bool, error) {
	x, ok := f.eol[p]
	return x, ok, nil
}

func adv(id, eco, name, fixed string) *osv.Advisory {
	return &osv.Advisory{ID: id, Affected: []osv.Affected{{Ecosystem: eco, Name: name,
		Ranges: []osv.Range{{Type: osv.RangeEcosystem, Events: []osv.Event{{Introduced: "0"}, {Fixed: fixed}}}}}}}
}

func run(t *testing.T, db DB, now time.Time, inv *catalog.Inventory) *Result {
	t.Helper()
	m, err := New(db, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Match(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func ids(fs []report.Finding) map[string]bool {
	out := map[string]bool{}
	for _, f := range fs {
		out[f.ID+" "+f.Package.Name] = true
	}
	return out
}

func TestDistributionReleases(t *testing.T) {
	db := &fakeDB{advs: []*osv.Advisory{
		adv("USN-1", "Ubuntu:22.04:LTS", "openssl", "3.0.2-0ubuntu1.10"),
		adv("USN-2", "Ubuntu:20.04:LTS", "openssl", "9.9"),
		adv("ALPINE-1", "Alpine:v3.19", "busybox", "1.36.1-r16"),
		adv("ALPINE-2", "Alpine:v3.18", "busybox", "9.9"),
		adv("DSA-1", "Debian:12", "glibc", "2.36-9+deb12u4"),
		adv("DSA-2", "Debian:11", "glibc", "9.9"),
	}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		distro catalog.Distro
		pkg    catalog.Package
		want   string
	}{
		{catalog.Distro{ID: "ubuntu", VersionID: "22.04"}, catalog.Package{Ecosystem: catalog.Ubuntu, Name: "libssl3", SourceName: "openssl", Version: "3.0.2-0ubuntu1.9"}, "USN-1 libssl3"},
		{catalog.Distro{ID: "alpine", VersionID: "3.19.1"}, catalog.Package{Ecosystem: catalog.Alpine, Name: "ssl_client", SourceName: "busybox", Version: "1.36.1-r15"}, "ALPINE-1 ssl_client"},
		// The advisory names the source version: a binNMU'd binary
		// version must not hide it.
		{catalog.Distro{ID: "debian", VersionID: "12"}, catalog.Package{Ecosystem: catalog.Debian, Name: "libc6", SourceName: "glibc", SourceVersion: "2.36-9+deb12u3", Version: "2.36-9+deb12u3+b1"}, "DSA-1 libc6"},
		{catalog.Distro{ID: "debian", Codename: "bookworm"}, catalog.Package{Ecosystem: catalog.Debian, Name: "libc6", SourceName: "glibc", Version: "2.36-9+deb12u3"}, "DSA-1 libc6"},
	}
	for _, tt := range tests {
		got := ids(run(t, db, now, &catalog.Inventory{Distro: &tt.distro, Packages: []catalog.Package{tt.pkg}}).Findings)
		if len(got) != 1 || !got[tt.want] {
			t.Errorf("%s %s: findings %v, want only %q", tt.distro.ID, tt.distro.VersionID, got, tt.want)
		}
	}
	// Without a release, OS packages cannot be matched: a warning, no guess.
	res := run(t, db, now, &catalog.Inventory{Packages: []catalog.Package{tests[2].pkg}})
	if len(res.Findings) != 0 || len(res.Warnings) != 1 {
		t.Errorf("no distro: findings %v warnings %v", res.Findings, res.Warnings)
	}
}

func TestEndOfLife(t *testing.T) {
	db := &fakeDB{eol: map[string]*vulndb.Product{
		"debian": {Releases: []vulndb.Release{{Name: "12", EOL: "2026-07-11", EOES: "2028-06-30"}, {Name: "13", EOL: "2028-08-09"}}},
		"go":     {Versions: map[string]string{"1.24.0": "2025-02-11", "1.25.0": "2025-08-12", "1.26.0": "2026-02-10", "1.27.0": "2026-08-19"}},
		"python": {Releases: []vulndb.Release{{Name: "3.9", EOL: "2025-10-31"}, {Name: "3.12", EOL: "2028-10-31"}}},
	}}
	inv := &catalog.Inventory{
		Distro: &catalog.Distro{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Packages: []catalog.Package{
			{Ecosystem: catalog.Go, Name: "stdlib", Version: "go1.24.3", Type: "go-stdlib"},
			{Ecosystem: catalog.Go, Name: "stdlib", Version: "go1.26.8", Type: "go-stdlib"},
			{Ecosystem: catalog.PyPI, Name: "python", Version: "3.9.2", Type: "runtime"},
			{Ecosystem: catalog.PyPI, Name: "python", Version: "3.12.1", Type: "runtime"},
		},
	}
	tests := []struct {
		now  time.Time
		want map[string]report.Severity
	}{
		{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), map[string]report.Severity{}},
		{time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), map[string]report.Severity{
			"EOL-debian-12": report.Medium, "EOL-go-1.24": report.High, "EOL-python-3.9": report.High}},
		{time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC), map[string]report.Severity{
			"EOL-debian-12": report.High, "EOL-go-1.24": report.High, "EOL-python-3.9": report.High, "EOL-python-3.12": report.High}},
	}
	for _, tt := range tests {
		res := run(t, db, tt.now, inv)
		got := map[string]report.Severity{}
		for _, f := range res.Findings {
			got[f.ID] = f.Severity
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: findings %v, want %v", tt.now.Format(time.DateOnly), got, tt.want)
			continue
		}
		for id, s := range tt.want {
			if got[id] != s {
				t.Errorf("%s: %s severity %s, want %s", tt.now.Format(time.DateOnly), id, got[id], s)
			}
		}
	}
}

// aliasDB adds id lookups to fakeDB.
type aliasDB struct {
	fakeDB
	byID map[string]*osv.Advisory
}

func (a *aliasDB) Advisory(id string) (*osv.Advisory, error) {
	if x, ok := a.byID[id]; ok {
		return x, nil
	}
	return nil, errors.New("not found")
}

func TestAliasRatingAndSummary(t *testing.T) {
	goRec := adv("GO-2021-0052", "Go", "github.com/gin-gonic/gin", "1.7.7")
	goRec.Aliases = []string{"CVE-2020-28483", "GHSA-h395-qcrw-5vmq"}
	goRec.Details = "Due to improper HTTP header sanitization, a malicious user can spoof their source address. Second sentence."
	ghsa := &osv.Advisory{ID: "GHSA-h395-qcrw-5vmq", DatabaseSeverity: "MODERATE",
		Severity: []osv.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N"}}}
	db := &aliasDB{fakeDB: fakeDB{advs: []*osv.Advisory{goRec}}, byID: map[string]*osv.Advisory{ghsa.ID: ghsa}}
	inv := &catalog.Inventory{Packages: []catalog.Package{{Ecosystem: catalog.Go, Name: "github.com/gin-gonic/gin", Version: "v1.6.0"}}}
	res := run(t, db, time.Now(), inv)
	if len(res.Findings) != 1 {
		t.Fatalf("findings %v", res.Findings)
	}
	f := res.Findings[0]
	if f.Severity != report.Medium || f.Score != 5.3 {
		t.Errorf("severity %s %v, want MEDIUM 5.3 from the GHSA alias", f.Severity, f.Score)
	}
	if f.Summary != "Due to improper HTTP header sanitization, a malicious user can spoof their source address." {
		t.Errorf("summary %q", f.Summary)
	}
	// Without id lookups the finding stays unrated rather than guessed.
	if res := run(t, &db.fakeDB, time.Now(), inv); res.Findings[0].Severity != report.Unknown {
		t.Errorf("severity without alias records: %s", res.Findings[0].Severity)
	}
}
