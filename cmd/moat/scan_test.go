package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/report"
)

// Real advisories, KEV, EPSS and EOL records trimmed to the app image's
// packages, and the fixture image built from the app image's real files.
const (
	advisoryFixture = "../../internal/scan/match/testdata"
	imageFixture    = "../../internal/scan/catalog/testdata/fixture-src"
	sarifSchema     = "../../internal/scan/report/testdata/sarif-schema-2.1.0.json"
)

// moat runs the CLI in-process and returns its output and error.
func moat(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// scanEnv imports the advisory fixture into a fresh database and writes the
// fixture image as an OCI layout, with extra layers on top.
func scanEnv(t *testing.T, extra ...[]byte) (db, image string) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "db")
	if out, err := moat(t, "db", "import", "--db", db, advisoryFixture); err != nil {
		t.Fatalf("db import: %v\n%s", err, out)
	}
	layers, err := ct.FixtureLayers(imageFixture)
	if err != nil {
		t.Fatal(err)
	}
	image = t.TempDir()
	if _, err := ct.WriteLayout(image, "app", append(layers, extra...)); err != nil {
		t.Fatal(err)
	}
	return db, "oci-layout:" + image
}

func scanJSON(t *testing.T, args ...string) *report.Report {
	t.Helper()
	out := filepath.Join(t.TempDir(), "r.json")
	if _, err := moat(t, append([]string{"scan", "--no-cache", "-f", "json", "-o", out}, args...)...); err != nil {
		t.Fatalf("scan: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func has(r *report.Report, eco, pkg, id string) bool {
	for _, f := range r.Findings {
		if f.Package.Ecosystem == eco && f.Package.Name == pkg && f.HasID(id) {
			return true
		}
	}
	return false
}

// TestScanFixtureImage scans the fixture image end to end: source,
// catalog, match and report.
func TestScanFixtureImage(t *testing.T) {
	db, image := scanEnv(t)
	r := scanJSON(t, "--db", db, image)
	for _, w := range []struct{ eco, pkg, id string }{
		{"npm", "lodash", "CVE-2021-23337"},
		{"npm", "minimist", "CVE-2021-44906"},
		{"Go", "github.com/gin-gonic/gin", "GO-2021-0052"},
		{"Go", "golang.org/x/net", "GO-2023-1571"},
		{"PyPI", "urllib3", "CVE-2023-43804"},
		{"Debian", "perl-base", "CVE-2026-7010"},
		{"os", "debian", "EOL-debian-12"},
	} {
		if !has(r, w.eco, w.pkg, w.id) {
			t.Errorf("missing %s in %s %s", w.id, w.eco, w.pkg)
		}
	}
	if has(r, "Go", "github.com/gin-gonic/gin", "GO-2020-0001") {
		t.Error("gin 1.6.0 reported for GO-2020-0001, fixed in 1.6.0")
	}
	nested := 0
	for _, f := range r.Findings {
		if f.Package.Name == "minimist" && f.HasID("CVE-2021-44906") {
			nested++
		}
	}
	if nested != 2 {
		t.Errorf("minimist CVE-2021-44906 in %d packages, want 2 (1.2.0 and nested 0.0.10)", nested)
	}
}

// TestScanOwnedByOS: once dpkg lists python3-urllib3's files, the egg-info
// is judged by the OS package, not matched again as PyPI urllib3.
func TestScanOwnedByOS(t *testing.T) {
	list := "/usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info\n/usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO\n"
	db, image := scanEnv(t, ct.Gzip(ct.Tar(ct.File("var/lib/dpkg/info/python3-urllib3.list", list))))
	r := scanJSON(t, "--db", db, image)
	for _, f := range r.Findings {
		if f.Package.Ecosystem == "PyPI" && f.Package.Name == "urllib3" {
			t.Errorf("OS-owned urllib3 matched as PyPI: %s", f.ID)
		}
	}
	if !has(r, "PyPI", "requests", "CVE-2023-32681") {
		t.Error("requests (not owned) lost its finding")
	}
}

func validSARIF(t *testing.T, path string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	f, err := os.Open(sarifSchema)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("sarif.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	inst, err := jsonschema.UnmarshalJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("SARIF invalid: %v", err)
	}
}

func exitCode(err error) int {
	var e exitError
	if err == nil {
		return 0
	}
	if errors.As(err, &e) {
		return int(e)
	}
	return -1
}

// TestFailOn is the CI gate: --fail-on high exits 1 with valid SARIF; an
// ignore file covering those findings makes it exit 0; once one entry has
// expired it exits 1 again.
func TestFailOn(t *testing.T) {
	db, image := scanEnv(t)
	dir := t.TempDir()
	sarif := filepath.Join(dir, "out.sarif")
	_, err := moat(t, "scan", "--no-cache", "--db", db, "--fail-on", "high", "-f", "sarif", "-o", sarif, image)
	if exitCode(err) != 1 {
		t.Fatalf("exit %d (%v), want 1", exitCode(err), err)
	}
	validSARIF(t, sarif)

	r := scanJSON(t, "--db", db, "--severity", "critical,high", image)
	if len(r.Findings) == 0 {
		t.Fatal("no high findings to ignore")
	}
	writeIgnore := func(expiredFirst bool) string {
		var b strings.Builder
		b.WriteString("ignore:\n")
		for i, f := range r.Findings {
			exp := "2099-12-31"
			if expiredFirst && i == 0 {
				exp = "2020-01-01"
			}
			fmt.Fprintf(&b, "  - id: %s\n    package: %s\n    reason: accepted in review\n    expires: %s\n", f.ID, f.Package.Name, exp)
		}
		p := filepath.Join(dir, fmt.Sprintf("ignore-%v.yaml", expiredFirst))
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out, err := moat(t, "scan", "--no-cache", "--db", db, "--fail-on", "high", "-f", "sarif", "-o", sarif, "--ignorefile", writeIgnore(false), image)
	if exitCode(err) != 0 {
		t.Fatalf("with every high finding ignored: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	validSARIF(t, sarif)
	if _, err := moat(t, "scan", "--no-cache", "--db", db, "--fail-on", "high", "-f", "sarif", "-o", sarif, "--ignorefile", writeIgnore(true), image); exitCode(err) != 1 {
		t.Fatalf("with an expired entry: exit %d (%v), want 1", exitCode(err), err)
	}
}

func TestScanErrors(t *testing.T) {
	db, image := scanEnv(t)
	for name, args := range map[string][]string{
		"bad format":      {"scan", "--db", db, "-f", "xml", image},
		"bad fail-on":     {"scan", "--db", db, "--fail-on", "severe", image},
		"bad severity":    {"scan", "--db", db, "--severity", "high,bad", image},
		"missing ignore":  {"scan", "--db", db, "--ignorefile", "/nonexistent.yaml", image},
		"no database":     {"scan", "--db", t.TempDir(), image},
		"missing image":   {"scan", "--no-cache", "--db", db, "oci-layout:/nonexistent"},
		"bad inventory":   {"scan", "--db", db, "inventory:" + sarifSchema + ".missing"},
		"import nothing":  {"db", "import", "--db", db, t.TempDir()},
		"import bad path": {"db", "import", "--db", db, "/nonexistent"},
	} {
		if _, err := moat(t, args...); err == nil || exitCode(err) == 1 {
			t.Errorf("%s: err = %v, want a plain error", name, err)
		}
	}
	out, err := moat(t, "db", "status", "--db", db)
	if err != nil || !strings.Contains(out, "advisories/osv/Go") || !strings.Contains(out, "KEV") {
		t.Errorf("db status: %v\n%s", err, out)
	}
}
