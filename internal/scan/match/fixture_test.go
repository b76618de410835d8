package match_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/match"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
)

// scanTime is the injected clock: Debian 12 is past regular support
// (2026-07-11) but within LTS (2028-06-30).
var scanTime = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// fixtureDir imports testdata (real records copied from the public feeds,
// trimmed to the packages of the app image) into a database, once per
// test binary; each test opens its own reader.
var fixtureDir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "moat-match-db-")
	if err != nil {
		return "", err
	}
	b := vulndb.NewBatch(func() time.Time { return scanTime })
	if err := b.AddPath(context.Background(), "testdata"); err != nil {
		return "", err
	}
	_, err = vulndb.Commit(context.Background(), dir, b)
	return dir, err
})

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := fixtureDir(); err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func openFixtureDB(t testing.TB) *vulndb.DB {
	t.Helper()
	dir, err := fixtureDir()
	if err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// appInventory is the inventory of the app image (Debian 12 base, a Go
// binary, an npm tree, jars and Python egg-info), read from its real files.
func appInventory(t testing.TB) *catalog.Inventory {
	t.Helper()
	b, err := os.ReadFile("testdata/app-inventory.json")
	if err != nil {
		t.Fatal(err)
	}
	var inv catalog.Inventory
	if err := json.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	return &inv
}

func matchInv(t testing.TB, db match.DB, inv *catalog.Inventory) *match.Result {
	t.Helper()
	m, err := match.New(db, match.WithClock(func() time.Time { return scanTime }))
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Match(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func find(fs []report.Finding, pkg, version, id string) *report.Finding {
	for i := range fs {
		f := &fs[i]
		if f.Package.Name == pkg && (version == "" || f.Package.Version == version) && f.HasID(id) {
			return f
		}
	}
	return nil
}

func TestAppImageFindings(t *testing.T) {
	db := openFixtureDB(t)
	res := matchInv(t, db, appInventory(t))

	want := []struct {
		pkg, version, id string
		fixedIn          string
		sev              report.Severity
		alsoIDs          []string
	}{
		// Go binary: module versions with v prefixes and pseudo-versions.
		{"github.com/gin-gonic/gin", "v1.6.0", "CVE-2020-28483", "1.7.7", report.Unknown, []string{"GO-2021-0052", "GHSA-h395-qcrw-5vmq"}},
		{"github.com/gin-gonic/gin", "v1.6.0", "GO-2023-1737", "1.9.1", report.Unknown, []string{"CVE-2023-29401"}},
		{"golang.org/x/net", "v0.0.0-20200202094626-16171245cfb2", "GO-2023-1571", "0.7.0", report.Unknown, []string{"CVE-2022-41723"}},
		{"golang.org/x/net", "v0.0.0-20200202094626-16171245cfb2", "GO-2021-0238", "0.0.0-20210520170846-37e1c6afe023", report.Unknown, nil},
		{"golang.org/x/text", "v0.3.5", "GO-2022-1059", "0.3.8", report.Unknown, []string{"CVE-2022-32149"}},
		// npm tree, including the nested minimist 0.0.10.
		{"lodash", "4.17.15", "CVE-2021-23337", "4.17.21", report.High, []string{"GHSA-35jh-r3h4-6jhm"}},
		{"minimist", "0.0.10", "CVE-2021-44906", "0.2.4", report.Critical, nil},
		{"minimist", "1.2.0", "CVE-2021-44906", "1.2.6", report.Critical, nil},
		{"handlebars", "4.5.2", "CVE-2021-23369", "4.7.7", report.Critical, nil},
		{"jquery", "3.4.0", "CVE-2020-11022", "3.5.0", report.Medium, nil},
		// Jars.
		{"org.yaml:snakeyaml", "1.33", "CVE-2022-1471", "2.0", report.High, []string{"GHSA-mjmj-j48q-9wg2"}},
		// Python egg-info without dpkg records: matched as PyPI, PYSEC and
		// GHSA records merged into one finding.
		{"urllib3", "1.26.12", "CVE-2023-43804", "1.26.17", report.High, []string{"PYSEC-2023-192", "GHSA-v845-jxx5-vc9f"}},
		{"requests", "2.28.1", "CVE-2023-32681", "2.31.0", report.Unknown, []string{"PYSEC-2023-74"}},
		// Debian packages, matched by source package in Debian:12.
		{"perl-base", "5.36.0-7+deb12u3", "CVE-2026-7010", "5.36.0-7+deb12u4", report.Unknown, []string{"DEBCL-CVE-2026-7010"}},
		{"libapt-pkg6.0", "2.6.1", "CVE-2026-109518", "2.6.2", report.Unknown, nil},
		// The OS release itself.
		{"debian", "12", "EOL-debian-12", "", report.Medium, nil},
	}
	for _, w := range want {
		f := find(res.Findings, w.pkg, w.version, w.id)
		if f == nil {
			t.Errorf("missing finding %s in %s %s", w.id, w.pkg, w.version)
			continue
		}
		if f.FixedIn != w.fixedIn {
			t.Errorf("%s in %s: FixedIn = %q, want %q", w.id, w.pkg, f.FixedIn, w.fixedIn)
		}
		if f.Severity != w.sev {
			t.Errorf("%s in %s: severity %s, want %s", w.id, w.pkg, f.Severity, w.sev)
		}
		for _, id := range w.alsoIDs {
			if !f.HasID(id) {
				t.Errorf("%s in %s: ids %v lack %s", w.id, w.pkg, f.IDs, id)
			}
		}
		if f.Kind == report.KindVulnerability && f.Package.Layer == "" {
			t.Errorf("%s in %s: no layer", w.id, w.pkg)
		}
	}

	notWant := []struct{ pkg, id, why string }{
		{"github.com/gin-gonic/gin", "GO-2020-0001", "fixed in 1.6.0, the installed version"},
		{"github.com/gin-gonic/gin", "CVE-2020-36567", "alias of GO-2020-0001"},
		{"org.apache.logging.log4j:log4j-core", "CVE-2021-44228", "2.19.0 is past every fix"},
		{"stdlib", "GO-2026-4599", "fixed in 1.26.1, toolchain is 1.26.8"},
		{"util-linux", "DSA-5055-1", "a Debian 11 advisory"},
		{"requests", "PYSEC-2015-17", "GIT range and explicit versions end at 2.5.3"},
	}
	for _, n := range notWant {
		for _, f := range res.Findings {
			if (f.Package.Name == n.pkg || f.Package.SourceName == n.pkg) && f.HasID(n.id) {
				t.Errorf("unexpected finding %s in %s %s (%s)", n.id, n.pkg, f.Package.Version, n.why)
			}
		}
	}

	// One finding per vulnerability per package.
	seen := map[string]bool{}
	for _, f := range res.Findings {
		for _, id := range f.IDs {
			k := f.Package.Name + "@" + f.Package.Version + "|" + strings.Join(f.Package.Paths, ",") + "|" + id
			if seen[k] {
				t.Errorf("id %s reported twice for %s %s", id, f.Package.Name, f.Package.Version)
			}
			seen[k] = true
		}
	}
	// Context from EPSS.
	if f := find(res.Findings, "lodash", "4.17.15", "CVE-2021-23337"); f != nil && (f.EPSS == nil || f.EPSS.Score <= 0) {
		t.Errorf("lodash CVE-2021-23337: no EPSS score: %+v", f.EPSS)
	}
	if len(res.Findings) < 60 {
		t.Errorf("only %d findings", len(res.Findings))
	}
}

// TestOwnedByOS: the same egg-info files owned by Debian's python3-urllib3
// are judged by its dpkg record, not matched again as PyPI urllib3.
func TestOwnedByOS(t *testing.T) {
	db := openFixtureDB(t)
	inv := appInventory(t)
	for i := range inv.Packages {
		if inv.Packages[i].Ecosystem == catalog.PyPI && inv.Packages[i].Name == "urllib3" {
			inv.Packages[i].OwnedByOS = true
		}
	}
	inv.Packages = append(inv.Packages, catalog.Package{
		Ecosystem: catalog.Debian, Name: "python3-urllib3", Version: "1.26.12-1+deb12u4",
		SourceName: "python-urllib3", Type: "deb", Layer: "sha256:layer",
	})
	res := matchInv(t, db, inv)
	for _, f := range res.Findings {
		if f.Package.Ecosystem == string(catalog.PyPI) && f.Package.Name == "urllib3" {
			t.Errorf("OS-owned urllib3 matched as PyPI: %s", f.ID)
		}
	}
	if find(res.Findings, "requests", "2.28.1", "CVE-2023-32681") == nil {
		t.Error("requests (not owned) lost its finding")
	}
}

func TestKEVAndCVSS(t *testing.T) {
	db := openFixtureDB(t)
	inv := &catalog.Inventory{Packages: []catalog.Package{{
		Ecosystem: catalog.Maven, Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1",
		PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", Type: "jar", Layer: "sha256:l",
	}}}
	res := matchInv(t, db, inv)
	f := find(res.Findings, "org.apache.logging.log4j:log4j-core", "2.14.1", "CVE-2021-44228")
	if f == nil {
		t.Fatalf("Log4Shell not found: %+v", res.Findings)
	}
	if f.Severity != report.Critical || f.Score != 10 || !strings.HasPrefix(f.Vector, "CVSS:3.1/") {
		t.Errorf("severity %s score %v vector %q, want CRITICAL 10 from CVSS 3.1", f.Severity, f.Score, f.Vector)
	}
	if f.KEV == nil || f.KEV.DateAdded != "2021-12-10" || !f.KEV.Ransomware {
		t.Errorf("KEV = %+v, want added 2021-12-10 with ransomware use", f.KEV)
	}
	if f.FixedIn != "2.15.0" || !slices.Contains(f.Fixed, "2.3.1") {
		t.Errorf("FixedIn %q Fixed %v, want 2.15.0 among [2.3.1 … 2.15.0]", f.FixedIn, f.Fixed)
	}
}

func TestGoStdlib(t *testing.T) {
	db := openFixtureDB(t)
	for _, tc := range []struct {
		version  string
		affected bool
	}{
		{"go1.26.0", true},
		{"go1.26.1", false},
		{"go1.26.8", false},
	} {
		inv := &catalog.Inventory{Packages: []catalog.Package{{Ecosystem: catalog.Go, Name: "stdlib", Version: tc.version, Type: "go-stdlib"}}}
		res := matchInv(t, db, inv)
		got := find(res.Findings, "stdlib", tc.version, "GO-2026-4599") != nil
		if got != tc.affected {
			t.Errorf("stdlib %s affected by GO-2026-4599 = %v, want %v", tc.version, got, tc.affected)
		}
	}
}

// Matching many inventories at once gives each what matching it alone
// gives, judged once for packages they share.
func TestMatchAllEqualsMatch(t *testing.T) {
	db := openFixtureDB(t)
	m, err := match.New(db, match.WithClock(func() time.Time { return scanTime }))
	if err != nil {
		t.Fatal(err)
	}
	a := appInventory(t)
	// b: the same image with one package older and one gone.
	b := appInventory(t)
	b.Packages = slices.Clone(b.Packages[1:])
	for i := range b.Packages {
		if b.Packages[i].Name == "lodash" {
			b.Packages[i].Version = "4.17.4"
		}
	}
	empty := &catalog.Inventory{}
	all, err := m.MatchAll(t.Context(), []*catalog.Inventory{a, b, empty, a})
	if err != nil {
		t.Fatal(err)
	}
	for i, inv := range []*catalog.Inventory{a, b, empty, a} {
		alone, err := m.Match(t.Context(), inv)
		if err != nil {
			t.Fatal(err)
		}
		got, want := mustJSON(t, all[i]), mustJSON(t, alone)
		if got != want {
			t.Fatalf("inventory %d: MatchAll and Match differ:\n%s\n%s", i, got, want)
		}
	}
	if len(all[0].Findings) == 0 || len(all[2].Findings) != 0 {
		t.Fatalf("findings: %d for the app, %d for an empty inventory", len(all[0].Findings), len(all[2].Findings))
	}

	keys := m.Keys(a)
	want := []vulndb.Key{{Ecosystem: "Debian:12", Name: "glibc"}, {Ecosystem: "npm", Name: "lodash"}, {Ecosystem: "Go", Name: "github.com/gin-gonic/gin"}}
	for _, k := range want {
		if !slices.Contains(keys, k) {
			t.Errorf("Keys lacks %v", k)
		}
	}
	if slices.Contains(keys, vulndb.Key{Ecosystem: "Debian:12", Name: "libc6"}) {
		t.Error("Keys names a binary package; Debian advisories are keyed by source")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
