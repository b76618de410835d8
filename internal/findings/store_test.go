package findings_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
)

type env struct {
	db     *sqldb.DB
	md     *sqlstore.Store
	outbox *events.Outbox
	store  *findings.Store
	cursor events.Cursor
}

func newEnv(t *testing.T, db *sqldb.DB) *env {
	t.Helper()
	ctx := t.Context()
	md, err := sqlstore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	o, err := events.New(ctx, db, events.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	locate := func(ctx context.Context, tx *sql.Tx, d string) ([]findings.Location, error) {
		locs, err := md.LocateTx(ctx, tx, digest.Digest(d))
		out := make([]findings.Location, len(locs))
		for i, l := range locs {
			out[i] = findings.Location{Repository: l.Repository, Tags: l.Tags}
		}
		return out, err
	}
	s, err := findings.New(ctx, db, o, findings.WithLocator(locate))
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, md: md, outbox: o, store: s}
}

// pushImage stores an image manifest in repo under tag and returns its
// digest.
func (e *env) pushImage(t *testing.T, repo, tag string) string {
	t.Helper()
	ctx := t.Context()
	cfg := digest.FromString("config of " + repo + tag)
	if err := e.md.PutBlob(ctx, repo, cfg, 2); err != nil {
		t.Fatal(err)
	}
	content := []byte(fmt.Sprintf(`{"schemaVersion":2,"config":{"digest":%q},"n":%q}`, cfg, repo+tag))
	m := &meta.Manifest{Repository: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
		ArtifactType: "application/vnd.oci.image.config.v1+json", Size: int64(len(content)), Content: content, Blobs: []digest.Digest{cfg}}
	if _, err := e.md.PutManifest(ctx, m, tag); err != nil {
		t.Fatal(err)
	}
	return m.Digest.String()
}

// newEvents returns the events appended since the last call. On
// PostgreSQL it first waits until every event is visible to readers: that
// is once every older transaction on the server (other tests' too) ended.
func (e *env) newEvents(t *testing.T) []events.Event {
	t.Helper()
	if e.db.Engine() == sqldb.Postgres {
		deadline := time.Now().Add(10 * time.Second)
		for {
			var settled bool
			err := e.db.R.QueryRowContext(t.Context(), `SELECT COALESCE(MAX(txid), 0) < pg_snapshot_xmin(pg_current_snapshot())::text::bigint FROM events`).Scan(&settled)
			if err != nil {
				t.Fatal(err)
			}
			if settled || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	evs, c, err := e.outbox.Read(t.Context(), e.cursor, 1000)
	if err != nil {
		t.Fatal(err)
	}
	e.cursor = c
	return evs
}

func types(evs []events.Event) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		out[e.Type]++
	}
	return out
}

func (e *env) compliant(t *testing.T, d string) bool {
	t.Helper()
	var v bool
	// The README's query, verbatim.
	if err := e.db.R.QueryRowContext(t.Context(), e.db.Q(`SELECT is_compliant FROM image_scans WHERE image_digest = ?`), d).Scan(&v); err != nil {
		t.Fatalf("image_scans: %v", err)
	}
	return v
}

func vuln(id string, sev report.Severity, pkg, ver, fixed string, kev bool) report.Finding {
	f := report.Finding{ID: id, IDs: []string{id, "GHSA-" + id}, Kind: report.KindVulnerability, Severity: sev, FixedIn: fixed,
		Package:   report.Package{Ecosystem: "Debian", Name: pkg, Version: ver, Type: "deb", PURL: "pkg:deb/debian/" + pkg + "@" + ver},
		Installed: ver, Status: "affected"}
	if kev {
		f.KEV = &report.KEV{CVE: id, DateAdded: "2024-01-01"}
	}
	return f
}

var (
	scanKinds   = []string{report.KindVulnerability, report.KindEndOfLife, report.KindSecret, report.KindMisconfiguration}
	rescanKinds = []string{report.KindVulnerability, report.KindEndOfLife}
)

func TestRecordAndQuery(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := t.Context()
		d := e.pushImage(t, "team-a/app", "v1")
		e.pushImage(t, "team-b/copy", "x") // another image
		if err := e.md.LinkBlob(ctx, "team-b/copy", digest.FromString("config of team-a/appv1")); err != nil {
			t.Fatal(err)
		}
		m, err := e.md.GetManifest(ctx, "team-a/app", digest.Digest(d))
		if err != nil {
			t.Fatal(err)
		}
		m.Repository = "team-b/copy"
		if _, err := e.md.PutManifest(ctx, m, "latest"); err != nil { // the same image in a second repository
			t.Fatal(err)
		}
		e.newEvents(t)

		if _, err := e.store.Scan(ctx, d); !errors.Is(err, findings.ErrNotFound) {
			t.Fatalf("Scan before any = %v", err)
		}
		if e.compliant(t, d) {
			t.Fatal("an unscanned image is compliant")
		}
		if err := db.Write(ctx, func(tx *sql.Tx) error { return e.store.MarkPendingTx(ctx, tx, d) }); err != nil {
			t.Fatal(err)
		}
		if err := e.store.MarkInProgress(ctx, d); err != nil {
			t.Fatal(err)
		}
		if sc, _ := e.store.Scan(ctx, d); sc.Status != findings.InProgress {
			t.Fatalf("status = %s", sc.Status)
		}

		inv := &catalog.Inventory{Image: d, Distro: &catalog.Distro{ID: "debian", VersionID: "12"},
			Packages: []catalog.Package{{Ecosystem: "Debian", Name: "libc6", Version: "2.36-9", SourceName: "glibc", Type: "deb"}}}
		keys := []vulndb.Key{{Ecosystem: "Debian:12", Name: "glibc"}, {Ecosystem: "PyPI", Name: "Jinja2"}}
		crit := vuln("CVE-2023-4911", report.Critical, "libc6", "2.36-9", "2.36-9+deb12u3", true)
		high := vuln("CVE-2024-2961", report.High, "libc6", "2.36-9", "2.36-9+deb12u7", false)
		low := vuln("CVE-2010-4756", report.Low, "libc6", "2.36-9", "", false)
		secret := report.Finding{ID: "aws-access-key", IDs: []string{"aws-access-key"}, Kind: report.KindSecret, Severity: report.Critical,
			Location: &report.Location{Path: "/app/.env", Line: 3}, Match: "AKIA****"}
		diff, err := e.store.Record(ctx, findings.Result{Digest: d, Inventory: inv, Keys: keys,
			Findings: []report.Finding{crit, high, low, secret}, Kinds: scanKinds, VulnDBVersion: "v1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(diff.New) != 4 || len(diff.Resolved) != 0 || diff.Summary.Critical != 2 || diff.Summary.High != 1 ||
			diff.Summary.Low != 1 || diff.Summary.KEV != 1 || diff.Summary.Fixable != 2 {
			t.Fatalf("first scan diff = %+v", diff)
		}
		if got := types(e.newEvents(t)); got[events.ScanCompleted] != 2 || got[events.FindingNew] != 8 {
			t.Fatalf("events of the first scan = %v, want a scan.completed and 4 finding.new per repository", got)
		}
		sc, err := e.store.Scan(ctx, d)
		if err != nil || sc.Status != findings.Complete || sc.VulnDBVersion != "v1" || sc.ScannedAt.IsZero() || sc.Summary != diff.Summary {
			t.Fatalf("Scan = %+v, %v", sc, err)
		}
		if e.compliant(t, d) {
			t.Fatal("an image with critical findings is compliant under maxSeverity high")
		}

		// Queries: severity, KEV, fix filters and paging.
		all, next, err := e.store.Findings(ctx, d, findings.Query{})
		if err != nil || len(all) != 4 || next != 0 || all[0].Severity != report.Critical || all[3].Severity != report.Low {
			t.Fatalf("Findings = %d, %d, %v", len(all), next, err)
		}
		if all[0].FirstSeen.IsZero() {
			t.Fatal("no first-seen time")
		}
		yes, no := true, false
		for name, tc := range map[string]struct {
			q    findings.Query
			want []string
		}{
			"critical": {findings.Query{Severities: []report.Severity{report.Critical}}, []string{"CVE-2023-4911", "aws-access-key"}},
			"high+":    {findings.Query{MinSeverity: report.High}, []string{"CVE-2023-4911", "CVE-2024-2961", "aws-access-key"}},
			"kev":      {findings.Query{KEV: &yes}, []string{"CVE-2023-4911"}},
			"no fix":   {findings.Query{FixAvailable: &no, Kinds: []string{report.KindVulnerability}}, []string{"CVE-2010-4756"}},
			"fixable":  {findings.Query{FixAvailable: &yes}, []string{"CVE-2023-4911", "CVE-2024-2961"}},
			"secrets":  {findings.Query{Kinds: []string{report.KindSecret}}, []string{"aws-access-key"}},
			"resolved": {findings.Query{Resolved: true}, nil},
		} {
			got, _, err := e.store.Findings(ctx, d, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, f := range got {
				ids = append(ids, f.ID)
			}
			slices.Sort(ids)
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("%s: %v, want %v", name, ids, tc.want)
			}
		}
		var paged []string
		var after int64
		for {
			page, next, err := e.store.Findings(ctx, d, findings.Query{Limit: 1, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range page {
				paged = append(paged, f.ID)
			}
			if next == 0 {
				break
			}
			after = next
		}
		if len(paged) != 4 {
			t.Fatalf("paging one at a time gave %v", paged)
		}
		if _, _, err := e.store.Findings(ctx, d, findings.Query{Limit: 5000}); !errors.Is(err, findings.ErrInvalid) {
			t.Fatalf("oversized page = %v", err)
		}

		// A rescan after an advisory update: the critical is gone, a new
		// medium appears, the secret is not the rescan's business.
		med := vuln("CVE-2025-0001", report.Medium, "libc6", "2.36-9", "", false)
		diff, err = e.store.Record(ctx, findings.Result{Digest: d, Findings: []report.Finding{high, low, med}, Kinds: rescanKinds, VulnDBVersion: "v2", Rescan: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(diff.New) != 1 || diff.New[0].ID != med.ID || len(diff.Resolved) != 1 || diff.Resolved[0].ID != crit.ID {
			t.Fatalf("rescan diff: new %v resolved %v", diff.New, diff.Resolved)
		}
		if diff.Summary.Critical != 1 || diff.Summary.Medium != 1 || diff.Summary.KEV != 0 {
			t.Fatalf("summary after rescan = %+v (the secret stays critical)", diff.Summary)
		}
		evs := e.newEvents(t)
		if got := types(evs); got[events.FindingNew] != 2 || got[events.FindingResolved] != 2 || got[events.ScanCompleted] != 2 {
			t.Fatalf("rescan events = %v", got)
		}
		for _, ev := range evs {
			if ev.Type != events.FindingNew {
				continue
			}
			var data struct {
				Repository string
				Tags       []string
				Digest     string
				Finding    findings.BriefFinding
			}
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				t.Fatal(err)
			}
			if data.Digest != d || data.Finding.ID != med.ID || len(data.Tags) != 1 || ev.Subject != data.Repository+"@"+d {
				t.Fatalf("finding.new = %s %s", ev.Subject, ev.Data)
			}
		}
		resolved, _, _ := e.store.Findings(ctx, d, findings.Query{Resolved: true})
		if len(resolved) != 1 || resolved[0].ResolvedAt.IsZero() {
			t.Fatalf("resolved = %+v", resolved)
		}

		// Nothing changed: no events.
		if _, err := e.store.Record(ctx, findings.Result{Digest: d, Findings: []report.Finding{high, low, med}, Kinds: rescanKinds, VulnDBVersion: "v3", Rescan: true}); err != nil {
			t.Fatal(err)
		}
		if evs := e.newEvents(t); len(evs) != 0 {
			t.Fatalf("an unchanged rescan emitted %v", types(evs))
		}
		if sc, _ := e.store.Scan(ctx, d); sc.VulnDBVersion != "v3" || sc.Summary.High != 1 || sc.Summary.Medium != 1 {
			t.Fatalf("state after an unchanged rescan = %+v", sc)
		}

		// Compliance follows the configuration: allow critical and KEV.
		if e.compliant(t, d) {
			t.Fatal("compliant with a critical secret")
		}
		if err := e.store.SetCompliance(ctx, report.Critical, true); err != nil {
			t.Fatal(err)
		}
		if !e.compliant(t, d) {
			t.Fatal("not compliant once critical findings are allowed")
		}

		// A finding that comes back opens again.
		diff, err = e.store.Record(ctx, findings.Result{Digest: d, Findings: []report.Finding{crit, high, low, med}, Kinds: rescanKinds, VulnDBVersion: "v4", Rescan: true})
		if err != nil || len(diff.New) != 1 || diff.Summary.KEV != 1 {
			t.Fatalf("reopened: %+v, %v", diff, err)
		}

		// A later pending or failed scan keeps the completed result.
		if err := db.Write(ctx, func(tx *sql.Tx) error { return e.store.MarkPendingTx(ctx, tx, d) }); err != nil {
			t.Fatal(err)
		}
		if err := e.store.MarkFailed(ctx, d, "layer unreadable"); err != nil {
			t.Fatal(err)
		}
		if sc, _ := e.store.Scan(ctx, d); sc.Status != findings.Complete {
			t.Fatalf("status after a failed rescan = %s", sc.Status)
		}
		if got := types(e.newEvents(t)); got[events.ScanFailed] != 2 {
			t.Fatalf("failure events = %v", got)
		}

		// The inventory and key index round-trip.
		back, err := e.store.Inventory(ctx, d)
		if err != nil || back.Distro.VersionID != "12" || len(back.Packages) != 1 || back.Packages[0].SourceName != "glibc" {
			t.Fatalf("Inventory = %+v, %v", back, err)
		}
		for _, k := range []vulndb.Key{{Ecosystem: "Debian:12", Name: "glibc"}, {Ecosystem: "PyPI", Name: "jinja2"}} {
			got, err := e.store.ImagesWithKeys(ctx, []vulndb.Key{k})
			if err != nil || fmt.Sprint(got) != fmt.Sprint([]string{d}) {
				t.Fatalf("ImagesWithKeys(%v) = %v, %v", k, got, err)
			}
		}
		if got, _ := e.store.ImagesWithKeys(ctx, []vulndb.Key{{Ecosystem: "Debian:11", Name: "glibc"}}); len(got) != 0 {
			t.Fatalf("ImagesWithKeys of another release = %v", got)
		}
		if got, err := e.store.Inventoried(ctx, "", 10); err != nil || fmt.Sprint(got) != fmt.Sprint([]string{d}) {
			t.Fatalf("Inventoried = %v, %v", got, err)
		}
	})
}

func TestStatusesAndBadInput(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := t.Context()
		d := e.pushImage(t, "r", "v1")
		if err := e.store.MarkUnsupported(ctx, d, "not an image moat can read"); err != nil {
			t.Fatal(err)
		}
		if sc, _ := e.store.Scan(ctx, d); sc.Status != findings.Unsupported || sc.Reason == "" {
			t.Fatalf("Scan = %+v", sc)
		}
		if e.compliant(t, d) {
			t.Fatal("an unsupported image is compliant")
		}
		for _, r := range []findings.Result{{}, {Digest: d}, {Digest: d, Kinds: rescanKinds,
			Findings: []report.Finding{{ID: "s", Kind: report.KindSecret}}}} {
			if _, err := e.store.Record(ctx, r); !errors.Is(err, findings.ErrInvalid) {
				t.Errorf("Record(%+v) = %v, want ErrInvalid", r, err)
			}
		}
		if err := e.store.SetCompliance(ctx, report.Severity(9), false); !errors.Is(err, findings.ErrInvalid) {
			t.Errorf("SetCompliance(9) = %v", err)
		}
		if _, err := e.store.Inventory(ctx, d); !errors.Is(err, findings.ErrNotFound) {
			t.Errorf("Inventory of an unscanned image = %v", err)
		}
	})
}

// After an advisory update, images the change cannot touch move to the
// new version without a re-match; the rest are what a rescan visits.
func TestVersionsAndAdvance(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := t.Context()
		var ds []string
		for i := range 3 {
			d := e.pushImage(t, "r", fmt.Sprint("v", i))
			inv := &catalog.Inventory{Image: d}
			if _, err := e.store.Record(ctx, findings.Result{Digest: d, Inventory: inv, Kinds: scanKinds, VulnDBVersion: "v1"}); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		stale, err := e.store.MatchedWith(ctx, "v2", "", 10)
		if err != nil || fmt.Sprint(stale) != fmt.Sprint(ds) {
			t.Fatalf("MatchedWith(not v2) = %v, %v", stale, err)
		}
		if page, _ := e.store.MatchedWith(ctx, "v2", ds[0], 1); len(page) != 1 || page[0] != ds[1] {
			t.Fatalf("second page = %v", page)
		}
		n, err := e.store.Advance(ctx, "v1", "v2", []string{ds[1]})
		if err != nil || n != 2 {
			t.Fatalf("Advance = %d, %v", n, err)
		}
		stale, _ = e.store.MatchedWith(ctx, "v2", "", 10)
		if fmt.Sprint(stale) != fmt.Sprint([]string{ds[1]}) {
			t.Fatalf("after Advance, stale = %v", stale)
		}
		vs, err := e.store.VersionsOf(ctx, append(ds, "sha256:unknown"))
		if err != nil || vs[ds[0]] != "v2" || vs[ds[1]] != "v1" || len(vs) != 3 {
			t.Fatalf("VersionsOf = %v, %v", vs, err)
		}
	})
}

// Without an advisory database a scan keeps the inventory and its other
// findings, but the image stays FAILED, saying why, until a rescan
// matches the inventory and completes it.
func TestUnmatchedUntilRescan(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := t.Context()
		d := e.pushImage(t, "r", "v1")
		e.newEvents(t)
		secret := report.Finding{ID: "aws-access-key", IDs: []string{"aws-access-key"}, Kind: report.KindSecret, Severity: report.Critical,
			Location: &report.Location{Path: "/.env", Line: 1}}
		if _, err := e.store.Record(ctx, findings.Result{Digest: d, Inventory: &catalog.Inventory{Image: d}, Findings: []report.Finding{secret},
			Kinds: []string{report.KindSecret}, Unmatched: "no advisory database yet"}); err != nil {
			t.Fatal(err)
		}
		sc, _ := e.store.Scan(ctx, d)
		if sc.Status != findings.Failed || sc.Reason != "no advisory database yet" || sc.Summary.Critical != 1 {
			t.Fatalf("unmatched scan = %+v", sc)
		}
		if got := types(e.newEvents(t)); got[events.ScanFailed] != 1 || got[events.ScanCompleted] != 0 || got[events.FindingNew] != 1 {
			t.Fatalf("events = %v", got)
		}
		if e.compliant(t, d) {
			t.Fatal("an unmatched image is compliant")
		}
		// Only vulnerabilities asked for, none matched: still recorded.
		if _, err := e.store.Record(ctx, findings.Result{Digest: d, Inventory: &catalog.Inventory{Image: d}, Unmatched: "no database"}); err != nil {
			t.Fatalf("unmatched result without other kinds: %v", err)
		}
		stale, _ := e.store.MatchedWith(ctx, "v1", "", 10)
		if len(stale) != 1 {
			t.Fatalf("an unmatched image is not due for a rescan: %v", stale)
		}
		if _, err := e.store.Record(ctx, findings.Result{Digest: d, Kinds: rescanKinds, VulnDBVersion: "v1", Rescan: true,
			Findings: []report.Finding{vuln("CVE-2024-1", report.Low, "p", "1", "2", false)}}); err != nil {
			t.Fatal(err)
		}
		if sc, _ := e.store.Scan(ctx, d); sc.Status != findings.Complete || sc.Reason != "" || sc.Summary.Critical != 1 || sc.Summary.Low != 1 {
			t.Fatalf("after the rescan: %+v", sc)
		}
	})
}

// A scoped batch (the rescan of an advisory change) compares only the
// findings of the packages in scope, image by image, and moves the
// images it does not change to the new database version without events.
func TestRecordAllScoped(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := t.Context()
		a, b, c := e.pushImage(t, "team-a/a", "v1"), e.pushImage(t, "team-a/b", "v1"), e.pushImage(t, "team-a/c", "v1")
		glibc := vuln("CVE-2024-2961", report.High, "libc6", "2.36-9", "2.36-9+deb12u7", false)
		openssl := vuln("CVE-2024-5535", report.Medium, "libssl3", "3.0.11-1", "3.0.14-1", false)
		var first []findings.Result
		for _, d := range []string{a, b, c} {
			first = append(first, findings.Result{Digest: d, Findings: []report.Finding{glibc, openssl}, Kinds: rescanKinds, VulnDBVersion: "v1"})
		}
		if _, err := e.store.RecordAll(ctx, first); err != nil {
			t.Fatal(err)
		}
		e.newEvents(t)

		// The glibc advisory is withdrawn: a and b re-match libc6 and lose
		// the finding; c re-matches nothing in scope and is unchanged. No
		// result mentions openssl: its findings stay open.
		libc := findings.PackageRef(glibc.Package)
		diffs, err := e.store.RecordAll(ctx, []findings.Result{
			{Digest: a, Kinds: []string{report.KindVulnerability}, Scoped: true, Packages: []string{libc}, VulnDBVersion: "v2", Rescan: true},
			{Digest: b, Kinds: []string{report.KindVulnerability}, Scoped: true, Packages: []string{libc}, VulnDBVersion: "v2", Rescan: true},
			{Digest: c, Kinds: []string{report.KindVulnerability}, Scoped: true, VulnDBVersion: "v2", Rescan: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range diffs[:2] {
			if len(d.New) != 0 || len(d.Resolved) != 1 || d.Resolved[0].ID != glibc.ID || d.Summary.Medium != 1 || d.Summary.High != 0 {
				t.Fatalf("diff %d = %+v", i, d)
			}
		}
		if d := diffs[2]; len(d.New)+len(d.Resolved) != 0 {
			t.Fatalf("out of scope diff = %+v", d)
		}
		for _, d := range []string{a, b, c} {
			sc, err := e.store.Scan(ctx, d)
			if err != nil || sc.VulnDBVersion != "v2" || sc.Summary.Medium != 1 {
				t.Fatalf("Scan(%s) = %+v, %v", d, sc, err)
			}
		}
		if sc, _ := e.store.Scan(ctx, c); sc.Summary.High != 1 {
			t.Fatalf("the image out of scope lost its finding: %+v", sc)
		}
		if got := types(e.newEvents(t)); got[events.FindingResolved] != 2 || got[events.ScanCompleted] != 2 || len(got) != 2 {
			t.Fatalf("events = %v, want a finding.resolved and a scan.completed for a and b", got)
		}

		// One image twice in a batch is refused whole.
		dup := findings.Result{Digest: a, Kinds: rescanKinds, VulnDBVersion: "v3", Rescan: true}
		if _, err := e.store.RecordAll(ctx, []findings.Result{dup, dup}); !errors.Is(err, findings.ErrInvalid) {
			t.Fatalf("a digest twice = %v", err)
		}
		if sc, _ := e.store.Scan(ctx, a); sc.VulnDBVersion != "v2" {
			t.Fatalf("a refused batch changed the state: %+v", sc)
		}
	})
}
