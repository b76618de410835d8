package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const vulndbTestdata = "../../internal/scan/vulndb/testdata"

// TestDBImportFiles: moat db import takes each KEV, EPSS and end-of-life
// file by its own path, several in one command, and says what it
// imported; a single OSV record is refused with the reason.
func TestDBImportFiles(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	code, stdout, stderr := runCLI(t, "", "db", "import", "--db", db,
		vulndbTestdata+"/feed/kev/known_exploited_vulnerabilities.json",
		vulndbTestdata+"/files/EPSS_CVE_data/CVE_2021_EPSS.csv",
		vulndbTestdata+"/files/eol/release-data/releases/alpine-linux.json",
		vulndbTestdata+"/feed/eol/debian.json")
	if code != 0 || !strings.Contains(stdout, "2 KEV, 4 EPSS, 2 end-of-life products") {
		t.Errorf("db import of three feed files: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "", "db", "import", "--db", db, vulndbTestdata+"/feed/osv/Go/GO-2022-0617.json")
	if code != 2 || !strings.Contains(stderr, "is one OSV record: import the directory of its source") {
		t.Errorf("db import of one OSV record: exit %d, stderr %q", code, stderr)
	}
}

// TestDBUpdateOffline: a download that fails for want of a network says
// how to import the feeds offline, and from where.
func TestDBUpdateOffline(t *testing.T) {
	code, _, stderr := runCLI(t, "", "db", "update", "--db", filepath.Join(t.TempDir(), "db"),
		"--base-url", "http://127.0.0.1:1", "--ecosystems", "Go")
	for _, want := range []string{"connection refused", "moat db import DIR|FILE", "known_exploited_vulnerabilities.json", "/<Ecosystem>/all.zip"} {
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("db update offline: exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
	if code, stdout, _ := runCLI(t, "", "db", "import", "--help"); code != 0 || !strings.Contains(stdout, "epss_scores-current.csv.gz") {
		t.Errorf("db import --help does not say where to get the feeds:\n%s", stdout)
	}
}

// TestDBServerDatabase: --data-dir and --config work on the database a
// server with those settings scans with; --db and --data-dir exclude
// each other.
func TestDBServerDatabase(t *testing.T) {
	data := t.TempDir()
	kev := vulndbTestdata + "/feed/kev/known_exploited_vulnerabilities.json"
	if code, stdout, stderr := runCLI(t, "", "db", "import", "--data-dir", data, kev); code != 0 {
		t.Fatalf("db import --data-dir: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "vulndb", "CURRENT")); err != nil {
		t.Fatalf("no database under <data-dir>/vulndb: %v", err)
	}
	elsewhere := filepath.Join(t.TempDir(), "feeds")
	cfgFile := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(cfgFile, []byte("version: 1\nscanning:\n  db: "+elsewhere+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "", "db", "import", "--config", cfgFile, kev); code != 0 {
		t.Fatalf("db import --config: exit %d %s", code, stderr)
	}
	if code, stdout, _ := runCLI(t, "", "db", "status", "--config", cfgFile); code != 0 || !strings.Contains(stdout, elsewhere) {
		t.Fatalf("db status --config does not name %s:\n%s", elsewhere, stdout)
	}
	if code, _, stderr := runCLI(t, "", "db", "status", "--db", elsewhere, "--data-dir", data); code != 2 || !strings.Contains(stderr, "none of the others can be") {
		t.Fatalf("--db with --data-dir: exit %d %s", code, stderr)
	}
}
