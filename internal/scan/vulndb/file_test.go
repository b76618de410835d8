package vulndb_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/vulndb"
)

// TestImportFileByPath: every KEV, EPSS and end-of-life file imports by
// its own path, as the feeds ship them, not only through its parent
// folder; the kind comes from the name and content, not the folder.
func TestImportFileByPath(t *testing.T) {
	gz := filepath.Join(t.TempDir(), "epss_scores-current.csv.gz")
	csv, err := os.ReadFile("testdata/files/EPSS_CVE_data/CVE_2021_EPSS.csv")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(csv)
	zw.Close()
	if err := os.WriteFile(gz, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// A KEV catalog under a name and folder of its own.
	renamed := filepath.Join(t.TempDir(), "catalog.json")
	kev, err := os.ReadFile("testdata/feed/kev/known_exploited_vulnerabilities.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(renamed, kev, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, source string
		check        func(m vulndb.Meta) bool
	}{
		{"testdata/feed/kev/known_exploited_vulnerabilities.json", "kev", func(m vulndb.Meta) bool { return m.KEV == 2 }},
		{renamed, "kev", func(m vulndb.Meta) bool { return m.KEV == 2 }},
		{"testdata/files/EPSS_CVE_data/CVE_2021_EPSS.csv", "epss", func(m vulndb.Meta) bool { return m.EPSS == 4 }},
		{gz, "epss", func(m vulndb.Meta) bool { return m.EPSS == 4 }},
		{"testdata/files/eol/release-data/releases/alpine-linux.json", "eol", func(m vulndb.Meta) bool { return m.EOL == 1 }},
		{"testdata/feed/eol/debian.json", "eol", func(m vulndb.Meta) bool { return m.EOL == 1 }},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			m := importPath(t, t.TempDir(), t0, tc.path)
			s := source(m, tc.source)
			if s == nil || s.Records == 0 || s.Warnings != 0 || !tc.check(m) {
				t.Errorf("import %s: source %+v, meta %+v", tc.path, s, m)
			}
		})
	}
	// The EOL product is named by the file: alpine-linux.
	db := open(t, func() string {
		dir := t.TempDir()
		importPath(t, dir, t0, "testdata/files/eol/release-data/releases/alpine-linux.json")
		return dir
	}())
	if p, ok, err := db.EOL("alpine-linux"); err != nil || !ok || len(p.Releases) != 3 {
		t.Errorf("EOL(alpine-linux) = %+v, %v, %v", p, ok, err)
	}
}

// TestImportFileErrors: files that are no feed, and single OSV records
// (an import replaces a source whole), are refused with a reason.
func TestImportFileErrors(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "package.json")
	os.WriteFile(other, []byte(`{"name":"x","version":"1.0.0"}`), 0o644)
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("hello"), 0o644)
	broken := filepath.Join(dir, "broken.json")
	os.WriteFile(broken, []byte(`{"vulnerabilities":`), 0o644)
	for path, says := range map[string]string{
		"testdata/feed/osv/Go/GO-2022-0617.json": "is one OSV record: import the directory of its source",
		other:                                    "is neither the CISA KEV catalog",
		notes:                                    "want a directory, an OSV .zip, an EPSS .csv[.gz]",
		broken:                                   "broken.json",
	} {
		err := vulndb.NewBatch(nil).AddPath(context.Background(), path)
		if !errors.Is(err, vulndb.ErrFormat) || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: err = %v, want ErrFormat saying %q", path, err, says)
		}
	}
}
