package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/report"
)

// withLocated is the sample report plus a secret and two
// misconfigurations.
func withLocated() *report.Report {
	r := sample()
	r.Findings = append(r.Findings,
		report.Finding{ID: "github-token", IDs: []string{"github-token"}, Kind: report.KindSecret, Severity: report.Critical,
			Summary: "GitHub token", Match: "ghp_********", Status: "affected",
			Location: &report.Location{Path: "/app/.env", Line: 3, Layer: "sha256:0123456789abcdef0123"}},
		report.Finding{ID: "MC001", IDs: []string{"MC001"}, Kind: report.KindMisconfiguration, Severity: report.High,
			Summary: "Image runs as root", Message: "no USER is set", Status: "affected", Location: &report.Location{Path: "image-config"}},
		report.Finding{ID: "MC101", IDs: []string{"MC101"}, Kind: report.KindMisconfiguration, Severity: report.Medium,
			Summary: "Setuid/setgid file", Message: "setgid file (mode 2755, owner 0:42)", Status: "affected",
			Location: &report.Location{Path: "/usr/bin/chage", Layer: "sha256:fedcba9876543210fedc"}},
	)
	return r
}

func renderReport(t *testing.T, f report.Format, r *report.Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, f, r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestLocatedFindings: secrets and misconfigurations get their own table
// sections, SARIF results at their path and line, and no CycloneDX
// vulnerability.
func TestLocatedFindings(t *testing.T) {
	r := withLocated()
	table := renderReport(t, report.Table, r)
	for _, want := range []string{
		"7 findings (CRITICAL 2, HIGH 1, MEDIUM 3, UNKNOWN 1)",
		"\nSecrets (1)\n", "CRITICAL  github-token  /app/.env:3  0123456789ab  ghp_********  GitHub token",
		"\nMisconfigurations (2)\n", "HIGH      MC001  image-config", "MEDIUM    MC101  /usr/bin/chage",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if i, j := strings.Index(table, "\nMEDIUM (2)\n"), strings.Index(table, "\nSecrets"); i < 0 || j < i {
		t.Errorf("vulnerability sections must count vulnerabilities only and come first:\n%s", table)
	}

	sarif := renderReport(t, report.SARIF, r)
	validateSARIF(t, []byte(sarif))
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(sarif), &log); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, res := range log.Runs[0].Results {
		loc := res.Locations[0].PhysicalLocation
		got[res.RuleID] = loc.ArtifactLocation.URI + ":" + string(rune('0'+loc.Region.StartLine))
		if res.RuleID == "github-token" && !strings.Contains(res.Message.Text, "ghp_********") {
			t.Errorf("secret message %q", res.Message.Text)
		}
	}
	if got["github-token"] != "app/.env:3" || got["MC001"] != "image-config:1" || got["MC101"] != "usr/bin/chage:1" {
		t.Errorf("SARIF locations %v", got)
	}

	cdx := renderReport(t, report.CycloneDX, r)
	if strings.Contains(cdx, "github-token") || strings.Contains(cdx, "MC101") {
		t.Error("CycloneDX holds secrets or misconfigurations")
	}
	if cdx != renderReport(t, report.CycloneDX, sample()) {
		t.Error("CycloneDX differs from the report without located findings")
	}

	var back report.Report
	if err := json.Unmarshal([]byte(renderReport(t, report.JSON, r)), &back); err != nil {
		t.Fatal(err)
	}
	if l := back.Findings[4].Location; l == nil || l.Path != "/app/.env" || l.Line != 3 || back.Findings[4].Match != "ghp_********" {
		t.Errorf("JSON round trip: %+v", back.Findings[4])
	}
}
