package scan_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan"
	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
)

// scanTime matches the advisory fixture's clock (see match's tests).
var scanTime = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func fixture(t *testing.T) string {
	t.Helper()
	layers, err := ct.FixtureLayers("catalog/testdata/fixture-src")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := ct.WriteLayout(dir, "fixture", layers); err != nil {
		t.Fatal(err)
	}
	return "oci-layout:" + dir + ":fixture"
}

func advisories(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	b := vulndb.NewBatch(func() time.Time { return scanTime })
	if err := b.AddPath(context.Background(), "match/testdata"); err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.Commit(context.Background(), dir, b); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ids(fs []report.Finding, kinds ...string) []string {
	var out []string
	for _, f := range fs {
		if len(kinds) == 0 || slices.Contains(kinds, f.Kind) {
			out = append(out, f.ID+" "+f.Package.Name+"@"+f.Package.Version)
		}
	}
	slices.Sort(out)
	return out
}

// One scan finds vulnerabilities, secrets and misconfigurations; a
// re-match of its inventory finds the same vulnerabilities without the
// image.
func TestScanAndRematch(t *testing.T) {
	ctx := context.Background()
	dbDir := advisories(t)
	sc, err := scan.New(scan.WithAdvisories(scan.AdvisoryDir(dbDir)), scan.WithClock(func() time.Time { return scanTime }))
	if err != nil {
		t.Fatal(err)
	}
	res, err := sc.Scan(ctx, scan.Request{Target: fixture(t), Scanners: scan.All()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Matched || len(res.Keys) == 0 || res.Report.DB.Version == "" {
		t.Fatalf("matched %v with %d keys, db %q", res.Matched, len(res.Keys), res.Report.DB.Version)
	}
	vulns := ids(res.Report.Findings, report.KindVulnerability, report.KindEndOfLife)
	if !slices.Contains(vulns, "CVE-2023-43804 urllib3@1.26.12") || !slices.Contains(vulns, "EOL-debian-12 debian@12") {
		t.Fatalf("vulnerabilities: %v", vulns)
	}
	db, err := vulndb.Open(dbDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	again, err := sc.Rematch(ctx, db, []*catalog.Inventory{res.Inventory})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(again[0].Findings); !slices.Equal(got, vulns) {
		t.Fatalf("re-match found %d findings, the scan %d:\n%v\n%v", len(got), len(vulns), got, vulns)
	}
}

// Without an advisory database a scan that may go on catalogs and checks
// the image and says it did not match; one that may not fails.
func TestScanWithoutDatabase(t *testing.T) {
	ctx := context.Background()
	sc, err := scan.New(scan.WithAdvisories(scan.AdvisoryDir(filepath.Join(t.TempDir(), "none"))))
	if err != nil {
		t.Fatal(err)
	}
	target := fixture(t)
	if _, err := sc.Scan(ctx, scan.Request{Target: target, Scanners: scan.All()}); !errors.Is(err, vulndb.ErrNoDatabase) {
		t.Fatalf("scan without a database = %v, want ErrNoDatabase", err)
	}
	res, err := sc.Scan(ctx, scan.Request{Target: target, Scanners: scan.All(), MatchIfAvailable: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched || len(res.Inventory.Packages) == 0 || len(ids(res.Report.Findings, report.KindVulnerability)) != 0 {
		t.Fatalf("unmatched scan: matched %v, %d packages, findings %v", res.Matched, len(res.Inventory.Packages), ids(res.Report.Findings))
	}
	if len(ids(res.Report.Findings, report.KindSecret, report.KindMisconfiguration)) == 0 {
		t.Fatal("no secrets or misconfigurations found without a database")
	}
}

func TestParseScanners(t *testing.T) {
	s, err := scan.ParseScanners([]string{"VULN", " secret "})
	if err != nil || s != (scan.Scanners{Vuln: true, Secret: true}) {
		t.Fatalf("ParseScanners = %+v, %v", s, err)
	}
	if got := s.Kinds(); !slices.Equal(got, []string{report.KindVulnerability, report.KindEndOfLife, report.KindSecret}) {
		t.Fatalf("Kinds = %v", got)
	}
	for _, bad := range [][]string{nil, {""}, {"virus"}} {
		if _, err := scan.ParseScanners(bad); !errors.Is(err, scan.ErrScanners) {
			t.Errorf("ParseScanners(%q) = %v", bad, err)
		}
	}
}
