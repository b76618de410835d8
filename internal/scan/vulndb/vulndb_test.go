package vulndb_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/vulndb"
)

var t0 = time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func importPath(t *testing.T, dir string, now time.Time, paths ...string) vulndb.Meta {
	t.Helper()
	b := vulndb.NewBatch(clock(now))
	for _, p := range paths {
		if err := b.AddPath(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	m, err := vulndb.Commit(context.Background(), dir, b, vulndb.WithClock(clock(now)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func open(t *testing.T, dir string) *vulndb.DB {
	t.Helper()
	db, err := vulndb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func source(m vulndb.Meta, name string) *vulndb.Source {
	for i := range m.Sources {
		if m.Sources[i].Name == name {
			return &m.Sources[i]
		}
	}
	return nil
}

func TestImportTree(t *testing.T) {
	dir := t.TempDir()
	m := importPath(t, dir, t0, "testdata/feed")

	// Two Go records, one withdrawn record skipped, one PyPI record, two
	// malformed PyPI files counted as warnings while the import goes on.
	if m.Advisories != 3 {
		t.Errorf("advisories = %d, want 3", m.Advisories)
	}
	goSrc, pySrc := source(m, "osv/Go"), source(m, "osv/PyPI")
	if goSrc == nil || goSrc.Records != 2 || goSrc.Withdrawn != 1 {
		t.Errorf("osv/Go source = %+v, want 2 records, 1 withdrawn", goSrc)
	}
	if pySrc == nil || pySrc.Records != 1 || pySrc.Warnings != 2 || len(pySrc.Messages) != 2 {
		t.Errorf("osv/PyPI source = %+v, want 1 record, 2 warnings", pySrc)
	}
	if m.KEV != 2 || m.EPSS != 3 || m.EOL != 1 {
		t.Errorf("KEV %d EPSS %d EOL %d, want 2, 3, 1", m.KEV, m.EPSS, m.EOL)
	}
	if s := source(m, "epss"); s == nil || s.Warnings != 1 {
		t.Errorf("epss source = %+v, want the garbage row counted", s)
	}

	db := open(t, dir)
	advs, err := db.Lookup("Go", "github.com/gin-gonic/gin")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, a := range advs {
		got[a.ID] = true
	}
	if len(advs) != 2 || !got["GO-2020-0001"] || !got["GO-2021-0052"] {
		t.Errorf("gin advisories = %v", got)
	}
	// GO records carry 0001-01-01 placeholder dates: zero, not year 1.
	a, err := db.Advisory("GO-2020-0001")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Modified.IsZero() || a.Published.Year() != 2021 {
		t.Errorf("dates: modified %v published %v", a.Modified, a.Published)
	}
	if _, err := db.Advisory("GO-2022-0617"); !errors.Is(err, vulndb.ErrNotFound) {
		t.Errorf("withdrawn record stored: %v", err)
	}
	// PyPI names are looked up normalized (PEP 503).
	if !db.Has("PyPI", "URLLib3") || db.Has("PyPI", "urllib4") {
		t.Error("PyPI lookup is not normalized")
	}
	k, ok, err := db.KEV("CVE-2021-44228")
	if err != nil || !ok || k.DateAdded != "2021-12-10" || !k.RansomwareKnown() {
		t.Errorf("KEV Log4Shell = %+v %v %v", k, ok, err)
	}
	e, ok, err := db.EPSS("CVE-2021-44228")
	if err != nil || !ok || e.Score < 0.99 || e.Percentile != 1 {
		t.Errorf("EPSS Log4Shell = %+v %v %v", e, ok, err)
	}
	if _, ok, _ := db.EPSS("CVE-1999-0001"); ok {
		t.Error("EPSS for an absent CVE")
	}
	p, ok, err := db.EOL("debian")
	if err != nil || !ok {
		t.Fatalf("EOL debian: %v %v", ok, err)
	}
	found := false
	for _, r := range p.Releases {
		if r.Name == "12" {
			found = true
			end, _ := r.EndOfLife(false)
			ext, _ := r.EndOfLife(true)
			if end.Format(time.DateOnly) != "2026-07-11" || ext.Format(time.DateOnly) != "2028-06-30" {
				t.Errorf("Debian 12 EOL %v / %v", end, ext)
			}
		}
	}
	if !found {
		t.Error("Debian 12 release missing")
	}
	changes, err := db.Changes()
	if err != nil || len(changes) != db.Meta().Keys {
		t.Errorf("first version: %d changes for %d keys (%v)", len(changes), db.Meta().Keys, err)
	}
}

func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	recA1 = `{"id":"A-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`
	recA2 = `{"id":"A-1","modified":"2024-02-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.1"}]}]}]}`
	recB  = `{"id":"B-1","affected":[{"package":{"ecosystem":"npm","name":"b"},"versions":["1.0.0"]}]}`
	recC  = `{"id":"C-1","affected":[{"package":{"ecosystem":"PyPI","name":"c"},"versions":["1.0"]}]}`
)

// TestPartialUpdate: an import replaces only the sources it brings, and
// records which keys changed.
func TestPartialUpdate(t *testing.T) {
	dir, in := t.TempDir(), t.TempDir()
	writeZip(t, filepath.Join(in, "v1", "npm", "all.zip"), map[string]string{"A-1.json": recA1, "B-1.json": recB})
	writeZip(t, filepath.Join(in, "v1", "PyPI", "all.zip"), map[string]string{"C-1.json": recC})
	m1 := importPath(t, dir, t0, filepath.Join(in, "v1"))
	if m1.Advisories != 3 || source(m1, "npm") == nil || source(m1, "PyPI") == nil {
		t.Fatalf("first import: %+v", m1)
	}
	// New npm zip: A-1 modified, B-1 gone. PyPI untouched.
	writeZip(t, filepath.Join(in, "v2", "npm", "all.zip"), map[string]string{"A-1.json": recA2})
	m2 := importPath(t, dir, t0.Add(time.Hour), filepath.Join(in, "v2"))
	if m2.Advisories != 2 || m2.Version == m1.Version {
		t.Fatalf("second import: %+v", m2)
	}
	db := open(t, dir)
	changes, err := db.Changes()
	if err != nil {
		t.Fatal(err)
	}
	want := []vulndb.Key{{Ecosystem: "npm", Name: "a"}, {Ecosystem: "npm", Name: "b"}}
	if len(changes) != 2 || changes[0] != want[0] || changes[1] != want[1] {
		t.Errorf("changes = %v, want %v", changes, want)
	}
	if !db.Has("PyPI", "c") || db.Has("npm", "b") {
		t.Error("PyPI source lost or npm B-1 kept")
	}
	a, err := db.Advisory("A-1")
	if err != nil || a.Affected[0].Ranges[0].Events[1].Fixed != "1.0.1" {
		t.Errorf("A-1 not updated: %+v %v", a, err)
	}
	// Only the current and the previous version are kept.
	vs, _ := os.ReadDir(filepath.Join(dir, "versions"))
	if len(vs) != 2 {
		t.Errorf("%d versions on disk, want 2", len(vs))
	}
}

// TestAtomicSwap: readers that opened a version keep reading it during and
// after an update, and concurrent opens never see a half-written version.
func TestAtomicSwap(t *testing.T) {
	dir, in := t.TempDir(), t.TempDir()
	writeZip(t, filepath.Join(in, "npm", "all.zip"), map[string]string{"A-1.json": recA1})
	importPath(t, dir, t0, filepath.Join(in, "npm", "all.zip"))
	old := open(t, dir)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			db, err := vulndb.Open(dir)
			if err == nil {
				_, err = db.Lookup("npm", "a")
				db.Close()
			}
			if err != nil {
				select {
				case errs <- err:
				default:
				}
				return
			}
		}
	}()
	for i := range 5 {
		rec := recA1
		if i%2 == 1 {
			rec = recA2
		}
		writeZip(t, filepath.Join(in, "npm", "all.zip"), map[string]string{"A-1.json": rec})
		importPath(t, dir, t0.Add(time.Duration(i+1)*time.Minute), filepath.Join(in, "npm", "all.zip"))
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("reader saw a broken database: %v", err)
	default:
	}
	advs, err := old.Lookup("npm", "a")
	if err != nil || len(advs) != 1 || advs[0].Affected[0].Ranges[0].Events[1].Fixed != "1.0.0" {
		t.Errorf("old reader: %v %v", advs, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := vulndb.Open(dir); !errors.Is(err, vulndb.ErrNoDatabase) {
		t.Errorf("empty dir: %v, want ErrNoDatabase", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "CURRENT"), []byte("../../etc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.Open(dir); !errors.Is(err, vulndb.ErrCorrupt) {
		t.Errorf("hostile CURRENT: %v, want ErrCorrupt", err)
	}
	// A corrupt current version does not block the next import.
	in := t.TempDir()
	writeZip(t, filepath.Join(in, "npm", "all.zip"), map[string]string{"B-1.json": recB})
	importPath(t, dir, t0, filepath.Join(in, "npm", "all.zip"))
	if db := open(t, dir); !db.Has("npm", "b") {
		t.Error("recovery import lost data")
	}
	// Truncated index.
	cur, _ := os.ReadFile(filepath.Join(dir, "CURRENT"))
	idx := filepath.Join(dir, "versions", strings.TrimSpace(string(cur)), "index.gob")
	if err := os.WriteFile(idx, []byte("nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.Open(dir); !errors.Is(err, vulndb.ErrCorrupt) {
		t.Errorf("truncated index: %v, want ErrCorrupt", err)
	}
}

func TestAddPathErrors(t *testing.T) {
	b := vulndb.NewBatch(nil)
	if err := b.AddPath(context.Background(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing path imported")
	}
	f := filepath.Join(t.TempDir(), "x.zip")
	os.WriteFile(f, []byte("not a zip"), 0o644)
	if err := b.AddPath(context.Background(), f); !errors.Is(err, vulndb.ErrFormat) {
		t.Errorf("bad zip: %v, want ErrFormat", err)
	}
}

// TestFetch runs `db update`'s download path against an in-process feed
// server: per-ecosystem all.zip, KEV JSON, gzip EPSS CSV and EOL data.
func TestFetch(t *testing.T) {
	zipBuf := func(files map[string]string) []byte {
		p := filepath.Join(t.TempDir(), "z.zip")
		writeZip(t, p, files)
		b, _ := os.ReadFile(p)
		return b
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("#model_version:v2025.03.14,score_date:2026-11-22T00:00:00Z\ncve,epss,percentile\nCVE-2021-44228,0.94358,0.99957\n"))
	zw.Close()
	kev, _ := os.ReadFile("testdata/feed/kev/known_exploited_vulnerabilities.json")
	eol, _ := os.ReadFile("testdata/feed/eol/debian.json")
	failPyPI := false
	mux := http.NewServeMux()
	mux.HandleFunc("/osv/npm/all.zip", func(w http.ResponseWriter, r *http.Request) {
		w.Write(zipBuf(map[string]string{"A-1.json": recA1}))
	})
	mux.HandleFunc("/osv/PyPI/all.zip", func(w http.ResponseWriter, r *http.Request) {
		if failPyPI {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Write(zipBuf(map[string]string{"C-1.json": recC}))
	})
	mux.HandleFunc("/kev.json", func(w http.ResponseWriter, r *http.Request) { w.Write(kev) })
	mux.HandleFunc("/epss.csv.gz", func(w http.ResponseWriter, r *http.Request) { w.Write(gz.Bytes()) })
	mux.HandleFunc("/eol/debian.json", func(w http.ResponseWriter, r *http.Request) { w.Write(eol) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	feeds := vulndb.Feeds{
		OSVBase: srv.URL + "/osv", Ecosystems: []string{"npm", "PyPI", "Hex"}, // Hex: 404, skipped
		KEVURL: srv.URL + "/kev.json", EPSSURL: srv.URL + "/epss.csv.gz",
		EOLBase: srv.URL + "/eol", EOLProducts: []string{"debian", "nosuch"},
	}
	dir := t.TempDir()
	b := vulndb.NewBatch(clock(t0))
	if err := vulndb.Fetch(context.Background(), srv.Client(), feeds, dir, b); err != nil {
		t.Fatal(err)
	}
	m, err := vulndb.Commit(context.Background(), dir, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Advisories != 2 || m.KEV != 2 || m.EPSS != 1 || m.EOL != 1 {
		t.Errorf("meta = %+v", m)
	}
	if s := source(m, "npm"); s == nil || s.Origin != srv.URL+"/osv/npm/all.zip" {
		t.Errorf("npm source = %+v", s)
	}
	db := open(t, dir)
	if e, ok, _ := db.EPSS("CVE-2021-44228"); !ok || e.Percentile < 0.99 {
		t.Errorf("EPSS from FIRST's CSV = %+v, %v", e, ok)
	}
	// A failing download aborts and leaves the current version alone.
	failPyPI = true
	if err := vulndb.Fetch(context.Background(), srv.Client(), feeds, dir, vulndb.NewBatch(nil)); err == nil {
		t.Fatal("fetch with a failing feed succeeded")
	} else {
		var hs *vulndb.HTTPStatusError
		if !errors.As(err, &hs) || hs.Status != 500 {
			t.Errorf("err = %v, want HTTPStatusError 500", err)
		}
	}
	if db2 := open(t, dir); db2.Meta().Version != m.Version {
		t.Error("failed fetch changed the database")
	}
	// No download temp files left behind.
	left, _ := filepath.Glob(filepath.Join(dir, ".download-*"))
	if len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

// TestHugeRecord: a record beyond MaxRecordSize is a counted warning, read
// no further, and the rest of the import goes on.
func TestHugeRecord(t *testing.T) {
	in := filepath.Join(t.TempDir(), "npm")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(in, "HUGE.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: takes no disk space, but reports the size.
	if err := f.Truncate(vulndb.MaxRecordSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(in, "B-1.json"), []byte(recB), 0o644); err != nil {
		t.Fatal(err)
	}
	m := importPath(t, t.TempDir(), t0, in)
	s := source(m, "npm")
	if s == nil || s.Records != 1 || s.Warnings != 1 || !strings.Contains(s.Messages[0], "exceeds") {
		t.Errorf("source %+v, want 1 record and a size warning", s)
	}
}

// Diff spans any number of versions: the keys whose advisories differ
// between the two compared, and whether context data changed.
func TestDiffAcrossVersions(t *testing.T) {
	dir, in := t.TempDir(), t.TempDir()
	writeZip(t, filepath.Join(in, "v1", "npm", "all.zip"), map[string]string{"A-1.json": recA1, "B-1.json": recB})
	writeZip(t, filepath.Join(in, "v1", "PyPI", "all.zip"), map[string]string{"C-1.json": recC})
	importPath(t, dir, t0, filepath.Join(in, "v1"))
	v1 := open(t, dir)
	// v2 changes A, v3 removes B; PyPI stays as it was throughout.
	writeZip(t, filepath.Join(in, "v2", "npm", "all.zip"), map[string]string{"A-1.json": recA2, "B-1.json": recB})
	importPath(t, dir, t0.Add(time.Hour), filepath.Join(in, "v2"))
	writeZip(t, filepath.Join(in, "v3", "npm", "all.zip"), map[string]string{"A-1.json": recA2})
	importPath(t, dir, t0.Add(2*time.Hour), filepath.Join(in, "v3"))
	v3 := open(t, dir)
	d := vulndb.Diff(v1, v3)
	want := []vulndb.Key{{Ecosystem: "npm", Name: "a"}, {Ecosystem: "npm", Name: "b"}}
	if len(d.Keys) != 2 || d.Keys[0] != want[0] || d.Keys[1] != want[1] || d.Context {
		t.Fatalf("Diff(v1, v3) = %+v, want keys %v and no context change", d, want)
	}
	if d := vulndb.Diff(v3, v3); len(d.Keys) != 0 || d.Context {
		t.Fatalf("Diff of a version with itself = %+v", d)
	}
	feeds := t.TempDir()
	kev := filepath.Join(feeds, "kev", "known_exploited_vulnerabilities.json")
	if err := os.MkdirAll(filepath.Dir(kev), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kev, []byte(`{"vulnerabilities":[{"cveID":"CVE-2024-0001","dateAdded":"2024-01-02","dueDate":"2024-01-23","knownRansomwareCampaignUse":"Unknown"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	importPath(t, dir, t0.Add(3*time.Hour), feeds)
	if d := vulndb.Diff(v3, open(t, dir)); len(d.Keys) != 0 || !d.Context {
		t.Fatalf("Diff after a KEV import = %+v, want only a context change", d)
	}
}

// A server's view of a database another process replaces: each scan
// keeps the version it started with, and Refresh hands over both versions
// of a change for the rescan to compare.
func TestLive(t *testing.T) {
	dir, in := t.TempDir(), t.TempDir()
	live, err := vulndb.OpenLive(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, _, err := live.Acquire(); !errors.Is(err, vulndb.ErrNoDatabase) {
		t.Fatalf("Acquire before any import = %v", err)
	}
	if c, err := live.Refresh(); !errors.Is(err, vulndb.ErrNoDatabase) || c != nil {
		t.Fatalf("Refresh before any import = %v, %v", c, err)
	}
	writeZip(t, filepath.Join(in, "v1", "npm", "all.zip"), map[string]string{"A-1.json": recA1})
	m1 := importPath(t, dir, t0, filepath.Join(in, "v1"))
	c, err := live.Refresh()
	if err != nil || c == nil || c.From != nil || c.To.Meta().Version != m1.Version {
		t.Fatalf("first Refresh = %+v, %v", c, err)
	}
	c.Release()
	if c, err := live.Refresh(); err != nil || c != nil {
		t.Fatalf("Refresh without a change = %+v, %v", c, err)
	}
	scanning, done, err := live.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	writeZip(t, filepath.Join(in, "v2", "npm", "all.zip"), map[string]string{"A-1.json": recA2})
	m2 := importPath(t, dir, t0.Add(time.Hour), filepath.Join(in, "v2"))
	c, err = live.Refresh()
	if err != nil || c == nil || c.From.Meta().Version != m1.Version || c.To.Meta().Version != m2.Version {
		t.Fatalf("Refresh after an import = %+v, %v", c, err)
	}
	if d := vulndb.Diff(c.From, c.To); len(d.Keys) != 1 {
		t.Fatalf("Diff = %+v", d)
	}
	c.Release()
	// The scan that began on v1 still reads it.
	if a, err := scanning.Advisory("A-1"); err != nil || a.Affected[0].Ranges[0].Events[1].Fixed != "1.0.0" {
		t.Fatalf("v1 after the swap: %+v, %v", a, err)
	}
	done()
	done() // releasing twice is harmless
	now, release, err := live.Acquire()
	if err != nil || now.Meta().Version != m2.Version {
		t.Fatalf("Acquire after the swap = %v, %v", now, err)
	}
	release()

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				db, rel, err := live.Acquire()
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := db.Lookup("npm", "a"); err != nil {
					t.Error(err)
				}
				rel()
			}
		})
	}
	for i := range 3 {
		writeZip(t, filepath.Join(in, fmt.Sprint("r", i), "npm", "all.zip"), map[string]string{"A-1.json": recA1, "B-1.json": recB})
		importPath(t, dir, t0.Add(time.Duration(2+i)*time.Hour), filepath.Join(in, fmt.Sprint("r", i)))
		if c, err := live.Refresh(); err != nil {
			t.Error(err)
		} else if c != nil {
			c.Release()
		}
	}
	wg.Wait()
}

// A feed folder of the tree imported by its own path is read as that
// feed: kev/, epss/ and eol/ are not OSV sources.
func TestImportFeedFolderByPath(t *testing.T) {
	tree := t.TempDir()
	for name, body := range map[string]string{
		"kev/known_exploited_vulnerabilities.json": `{"vulnerabilities":[{"cveID":"CVE-2024-0001","dateAdded":"2024-01-02","dueDate":"2024-01-23","knownRansomwareCampaignUse":"Known"}]}`,
		"epss/epss.csv":   "CVE-2024-0001;0.5;0.9\n",
		"eol/debian.json": `{"releases":{"12":{"name":"12","eolFrom":"2026-06-10"}}}`,
	} {
		p := filepath.Join(tree, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := importPath(t, t.TempDir(), t0, filepath.Join(tree, "kev"), filepath.Join(tree, "epss"), filepath.Join(tree, "eol")+"/")
	if m.KEV != 1 || m.EPSS != 1 || m.EOL != 1 || m.Advisories != 0 {
		t.Fatalf("feed folders imported as %+v", m)
	}
	for _, s := range m.Sources {
		if s.Kind == vulndb.KindOSV || s.Warnings > 0 {
			t.Errorf("source %+v", s)
		}
	}
}
