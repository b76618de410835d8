package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/report"
)

// The app image's layer headers (every file's content dropped), its
// configuration and the setuid/setgid list `find -perm /6000` printed on
// the extracted real image.
const appFixture = "../../internal/scan/misconfig/testdata/app"

// Look-alike credentials planted in the fixture; assembled at run time so
// the source holds no literal key.
var (
	plantedAKID   = "AKIA" + "Q3VZ7HPLMX2RT5NW"
	plantedGHP    = "ghp_" + strings.Repeat("Ab3dE5gH7j", 3) + "K9mN1p"
	plantedStripe = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
)

// findingsEnv writes the app image's four layers, a fifth holding a
// planted .env, and the app's configuration with a planted environment
// variable, as an OCI layout. It returns the source and the fifth layer's
// digest.
func findingsEnv(t *testing.T) (image, secretLayer string) {
	t.Helper()
	var layers [][]byte
	for i := 1; i <= 4; i++ {
		b, err := os.ReadFile(filepath.Join(appFixture, fmt.Sprintf("layer%d.tar.gz", i)))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, b)
	}
	env := "# app settings\nAWS_ACCESS_KEY_ID=" + plantedAKID + "\nGITHUB_TOKEN=" + plantedGHP + "\n"
	secret := ct.Gzip(ct.Tar(ct.File("srv/app/.env", env)))
	layers = append(layers, secret)
	b, err := os.ReadFile(filepath.Join(appFixture, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	c := cfg["config"].(map[string]any)
	c["Env"] = append(c["Env"].([]any), "STRIPE_API_KEY="+plantedStripe)
	dir := t.TempDir()
	if _, err := ct.WriteLayoutConfig(dir, "app", layers, cfg); err != nil {
		t.Fatal(err)
	}
	return "oci-layout:" + dir, ct.Digest(secret)
}

func byKind(r *report.Report, kind string) []report.Finding {
	var out []report.Finding
	for _, f := range r.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// TestScanSecretsAndConfig: --scanners secret,config (no advisory database
// needed) reports that the app image runs as root, its setuid/setgid files
// exactly as find -perm /6000 lists them, its shells and package managers,
// and the planted secrets with layer, path and line.
func TestScanSecretsAndConfig(t *testing.T) {
	image, secretLayer := findingsEnv(t)
	r := scanJSON(t, "--scanners", "secret,config", image)
	if n := len(byKind(r, report.KindVulnerability)) + len(byKind(r, report.KindEndOfLife)); n != 0 {
		t.Errorf("%d vulnerability findings without the vuln scanner", n)
	}
	ids := map[string]int{}
	var special []string
	for _, f := range byKind(r, report.KindMisconfiguration) {
		ids[f.ID]++
		if f.ID == "MC101" {
			special = append(special, f.Location.Path)
			if f.Location.Layer == "" || !strings.Contains(f.Message, "owner") {
				t.Errorf("setuid finding without layer or owner: %+v", f)
			}
		}
	}
	want, err := os.ReadFile(filepath.Join(appFixture, "find-perm-6000.txt"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(special)
	if strings.Join(special, "\n")+"\n" != string(want) {
		t.Errorf("setuid/setgid:\ngot  %v\nwant %v", special, strings.Fields(string(want)))
	}
	if ids["MC001"] != 1 || ids["MC103"] != 1 || ids["MC104"] != 1 || ids["MC006"] != 1 {
		t.Errorf("misconfigurations by id %v: want root user, shell, package manager, secret in env", ids)
	}
	for _, f := range byKind(r, report.KindMisconfiguration) {
		if f.ID == "MC103" && f.Message != "attack surface an image could do without: /usr/bin/bash, /usr/bin/dash, /usr/bin/sh" {
			t.Errorf("shells: %q", f.Message)
		}
		if f.ID == "MC104" && f.Message != "attack surface an image could do without: /usr/bin/apt, /usr/bin/apt-get, /usr/bin/dpkg" {
			t.Errorf("package managers: %q", f.Message)
		}
	}
	var secrets []string
	for _, f := range byKind(r, report.KindSecret) {
		secrets = append(secrets, fmt.Sprintf("%s %s:%d %s", f.ID, f.Location.Path, f.Location.Line, f.Location.Layer))
	}
	wantSecrets := []string{
		"aws-access-key-id /srv/app/.env:2 " + secretLayer,
		"github-token /srv/app/.env:3 " + secretLayer,
		"stripe-live-key image-config:Env:2 ",
	}
	if !reflect.DeepEqual(secrets, wantSecrets) {
		t.Errorf("secrets\ngot  %q\nwant %q", secrets, wantSecrets)
	}
}

// TestScanNeverPrintsSecrets: the planted values, or any long part of
// them, appear in no output format.
func TestScanNeverPrintsSecrets(t *testing.T) {
	image, _ := findingsEnv(t)
	for _, format := range []string{"table", "json", "sarif", "cyclonedx"} {
		out := filepath.Join(t.TempDir(), "out")
		_, err := moat(t, "scan", "--no-cache", "--scanners", "secret,config", "-f", format, "-o", out, image)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{plantedAKID, plantedGHP, plantedStripe} {
			if strings.Contains(string(b), v[4:]) {
				t.Errorf("%s output holds a secret (%s…)", format, v[:4])
			}
		}
		switch format {
		case "table":
			if !strings.Contains(string(b), "/srv/app/.env:3") || !strings.Contains(string(b), "ghp_********") {
				t.Errorf("table lacks the redacted token:\n%s", b)
			}
		case "sarif":
			validSARIF(t, out)
			if !strings.Contains(string(b), `"uri": "srv/app/.env"`) || !strings.Contains(string(b), `"startLine": 3`) {
				t.Error("SARIF lacks the secret's location")
			}
		case "cyclonedx":
			if strings.Contains(string(b), "github-token") {
				t.Error("CycloneDX holds a secret finding")
			}
		}
	}
}

// TestScanVulnOnly: --scanners vuln reports no secrets or
// misconfigurations.
func TestScanVulnOnly(t *testing.T) {
	db, _ := scanEnv(t)
	image, _ := findingsEnv(t)
	r := scanJSON(t, "--db", db, "--scanners", "vuln", image)
	if n := len(byKind(r, report.KindSecret)) + len(byKind(r, report.KindMisconfiguration)); n != 0 {
		t.Errorf("%d secrets or misconfigurations with --scanners vuln", n)
	}
	all := scanJSON(t, "--db", db, image)
	if len(byKind(all, report.KindSecret)) != 3 || len(byKind(all, report.KindMisconfiguration)) == 0 {
		t.Errorf("default scanners: %d secrets, %d misconfigurations", len(byKind(all, report.KindSecret)), len(byKind(all, report.KindMisconfiguration)))
	}
}

// TestScanWarmCache: a second scan from the layer cache gives exactly the
// first one's findings.
func TestScanWarmCache(t *testing.T) {
	image, _ := findingsEnv(t)
	cache := t.TempDir()
	run := func() []report.Finding {
		out := filepath.Join(t.TempDir(), "r.json")
		if _, err := moat(t, "scan", "--cache-dir", cache, "--scanners", "secret,config", "-f", "json", "-o", out, image); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var r report.Report
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r.Findings
	}
	cold := run()
	if ents, _ := os.ReadDir(cache); len(ents) == 0 {
		t.Fatal("nothing cached")
	}
	warm := run()
	if len(cold) < 20 || !reflect.DeepEqual(cold, warm) {
		t.Errorf("warm cache: %d findings, cold %d (or they differ)", len(warm), len(cold))
	}
}

// TestScanFailOnAndBadScanners: --severity filters secrets and
// misconfigurations too; a secret fails the build with --fail-on; bad
// --scanners values are clear errors.
func TestScanFailOnAndBadScanners(t *testing.T) {
	image, _ := findingsEnv(t)
	r := scanJSON(t, "--scanners", "secret,config", "--severity", "critical", image)
	if len(r.Findings) != 3 || len(byKind(r, report.KindSecret)) != 3 {
		t.Errorf("--severity critical kept %d findings, want the 3 secrets", len(r.Findings))
	}
	// The gate says on stderr which findings tripped it, even when the
	// report goes to a file.
	code, stdout, stderr := runCLI(t, "", "scan", "--no-cache", "--scanners", "secret", "--fail-on", "critical", "-o", filepath.Join(t.TempDir(), "out"), image)
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "moat scan: --fail-on critical: 3 findings at or above CRITICAL (3 CRITICAL): ") ||
		!strings.Contains(stderr, "github") {
		t.Errorf("--fail-on critical with a GitHub token: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "", "scan", "--no-cache", "--scanners", "config", "--fail-on", "critical", "-o", filepath.Join(t.TempDir(), "out"), image); code != 0 || stderr != "" {
		t.Errorf("--fail-on critical without critical findings: exit %d, stderr %q", code, stderr)
	}
	for _, v := range []string{"vuln,nope", "", " , ", "secrets"} {
		_, err := moat(t, "scan", "--no-cache", "--scanners", v, image)
		if !errors.Is(err, scan.ErrScanners) || !strings.Contains(err.Error(), "vuln, secret, config") {
			t.Errorf("--scanners %q: err = %v", v, err)
		}
	}
}
