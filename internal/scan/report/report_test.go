package report_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/moat-dev/moat/internal/scan/report"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sample is a report with the kinds of findings a real scan yields: a
// KEV-listed critical, an OS package matched by source, a finding without
// a fix, an end-of-life release, and a suppressed one.
func sample() *report.Report {
	created := time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC)
	return &report.Report{
		Target: "oci-archive:app-oci.tar:app", Image: "sha256:b05ffa1681ba3b188790a7f98ee4f78743fcebb0f8cc4e9ec24e4b2e6d7508a0",
		Distro: "Debian GNU/Linux 12 (bookworm)", Created: created, Packages: 177,
		DB: report.DBInfo{Version: "20261123T013516Z-70e7e8fc", Created: created.Add(-time.Hour)},
		Findings: []report.Finding{
			{
				ID: "CVE-2021-44228", IDs: []string{"CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q"}, Kind: report.KindVulnerability,
				Package:   report.Package{Ecosystem: "Maven", Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", Type: "jar", Paths: []string{"/usr/share/java/log4j-core.jar"}, Layer: "sha256:652637d6818b425806061f65ebcc1e2942aef1908fc7b0dbc631005837ec8511"},
				Installed: "2.14.1", Fixed: []string{"2.3.1", "2.12.2", "2.15.0"}, FixedIn: "2.15.0",
				Severity: report.Critical, Score: 10, Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
				KEV:     &report.KEV{CVE: "CVE-2021-44228", DateAdded: "2021-12-10", DueDate: "2021-12-24", Ransomware: true},
				EPSS:    &report.EPSS{CVE: "CVE-2021-44228", Score: 0.9999, Percentile: 1},
				Summary: "Remote code injection in Log4j", References: []string{"https://nvd.nist.gov/vuln/detail/CVE-2021-44228"},
				Published: time.Date(2021, 12, 10, 0, 40, 56, 0, time.UTC), Status: "affected",
			},
			{
				ID: "CVE-2026-7010", IDs: []string{"CVE-2026-7010", "DEBCL-CVE-2026-7010"}, Kind: report.KindVulnerability,
				Package:   report.Package{Ecosystem: "Debian", Name: "perl-base", Version: "5.36.0-7+deb12u3", SourceName: "perl", PURL: "pkg:deb/debian/perl-base@5.36.0-7+deb12u3?distro=debian-12", Type: "deb", Paths: []string{"/var/lib/dpkg/status"}, Layer: "sha256:05cde3b5ea44cd44d258973bcf95f879d483f67e73fe8a46938218295d37f7e4"},
				Installed: "5.36.0-7+deb12u3", Fixed: []string{"5.36.0-7+deb12u4"}, FixedIn: "5.36.0-7+deb12u4",
				Severity: report.Unknown, Summary: "Derived from Debian changelog entries", Status: "affected",
			},
			{
				ID: "GO-2026-0000", IDs: []string{"GO-2026-0000"}, Kind: report.KindVulnerability,
				Package:   report.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5", PURL: "pkg:golang/golang.org/x/text@v0.3.5", Type: "go-module", Paths: []string{"/usr/local/bin/vulnapp"}, Layer: "sha256:777c"},
				Installed: "v0.3.5", Severity: report.Medium, Score: 5.3, Vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N",
				Summary: "No fix yet", Status: "affected",
			},
			{
				ID: "EOL-debian-12", IDs: []string{"EOL-debian-12"}, Kind: report.KindEndOfLife,
				Package:   report.Package{Ecosystem: "os", Name: "debian", Version: "12", Type: "os"},
				Installed: "12", Severity: report.Medium,
				EndOfLife: &report.EndOfLife{Product: "debian", Release: "12", Date: time.Date(2026, 7, 11, 0, 0, 0, 0, time.UTC), Extended: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC)},
				Summary:   "Debian GNU/Linux 12 (bookworm) reached end of support on 2026-07-11; extended support until 2028-06-30", Status: "affected",
			},
		},
		Suppressed: []report.Finding{{
			ID: "CVE-2022-24785", IDs: []string{"CVE-2022-24785", "GHSA-8hfj-j24r-96c4"}, Kind: report.KindVulnerability,
			Package:   report.Package{Ecosystem: "npm", Name: "moment", Version: "2.29.1", PURL: "pkg:npm/moment@2.29.1", Paths: []string{"/srv/npmapp/node_modules/moment/package.json"}},
			Installed: "2.29.1", FixedIn: "2.29.2", Severity: report.High, Score: 7.5, Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N",
			Status: "not_affected", Justification: "vulnerable_code_not_in_execute_path",
		}},
		Warnings: []string{"no advisories can be matched for RPM packages of unknown release"},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update to accept):\n%s", name, got)
	}
}

func render(t *testing.T, f report.Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, f, sample()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for _, f := range report.Formats() {
		golden(t, "sample."+string(f)+".golden", render(t, f))
	}
}

func TestTableGroupsBySeverity(t *testing.T) {
	out := string(render(t, report.Table))
	crit, med, unk := strings.Index(out, "\nCRITICAL (1)"), strings.Index(out, "\nMEDIUM (2)"), strings.Index(out, "\nUNKNOWN (1)")
	if crit < 0 || med < crit || unk < med {
		t.Errorf("groups out of order:\n%s", out)
	}
	if !strings.Contains(out, "ransomware") || !strings.Contains(out, "perl-base (perl)") || !strings.Contains(out, "1 suppressed") {
		t.Errorf("table lacks KEV, source package or suppressed count:\n%s", out)
	}
}

func compile(t *testing.T, main string, files map[string]string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	for url, file := range files {
		f, err := os.Open(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(main)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ValidateSARIF checks b against the SARIF 2.1.0 schema and the rules
// GitHub code scanning adds: every result's rule exists, locations are
// relative URIs, security-severity is a number.
func validateSARIF(t *testing.T, b []byte) {
	t.Helper()
	s := compile(t, "sarif.json", map[string]string{"sarif.json": "sarif-schema-2.1.0.json"})
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Fatalf("SARIF invalid against the 2.1.0 schema: %v", err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID         string         `json:"id"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	for _, r := range run.Tool.Driver.Rules {
		if _, ok := r.Properties["security-severity"].(string); !ok {
			t.Errorf("rule %s: no security-severity", r.ID)
		}
	}
	for _, res := range run.Results {
		if res.RuleIndex >= len(run.Tool.Driver.Rules) || run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %s: rule index %d does not name it", res.RuleID, res.RuleIndex)
		}
		if len(res.Locations) == 0 || strings.HasPrefix(res.Locations[0].PhysicalLocation.ArtifactLocation.URI, "/") {
			t.Errorf("result %s: location %+v must be a relative URI", res.RuleID, res.Locations)
		}
	}
}

func TestSARIFValid(t *testing.T) {
	validateSARIF(t, render(t, report.SARIF))
	// An empty report is valid too.
	var buf bytes.Buffer
	if err := report.WriteSARIF(&buf, &report.Report{Target: "x"}); err != nil {
		t.Fatal(err)
	}
	validateSARIF(t, buf.Bytes())
}

func TestCycloneDXValid(t *testing.T) {
	s := compile(t, "http://cyclonedx.org/schema/bom-1.6.schema.json", map[string]string{
		"http://cyclonedx.org/schema/bom-1.6.schema.json":  "bom-1.6.schema.json",
		"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schema.json",
	})
	b := render(t, report.CycloneDX)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Fatalf("CycloneDX invalid against the 1.6 schema: %v", err)
	}
	var bom struct {
		Components []struct {
			Ref string `json:"bom-ref"`
		} `json:"components"`
		Vulnerabilities []struct {
			ID       string `json:"id"`
			Analysis struct {
				State string `json:"state"`
			} `json:"analysis"`
			Affects []struct {
				Ref string `json:"ref"`
			} `json:"affects"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	for _, c := range bom.Components {
		refs[c.Ref] = true
	}
	if len(bom.Vulnerabilities) != 5 {
		t.Fatalf("%d vulnerabilities, want 5", len(bom.Vulnerabilities))
	}
	for _, v := range bom.Vulnerabilities {
		if !refs[v.Affects[0].Ref] {
			t.Errorf("%s affects unknown component %q", v.ID, v.Affects[0].Ref)
		}
		if v.ID == "CVE-2022-24785" && v.Analysis.State != "not_affected" {
			t.Errorf("suppressed finding analysis %q, want not_affected", v.Analysis.State)
		}
	}
}

func TestParse(t *testing.T) {
	if _, err := report.ParseFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
	for in, want := range map[string]report.Severity{"moderate": report.Medium, "HIGH": report.High, "critical": report.Critical, "": report.Unknown} {
		if got, err := report.ParseSeverity(in); err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := report.ParseSeverity("severe"); err == nil {
		t.Error("unknown severity accepted")
	}
}
