package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scanrules"
)

func TestScanningSection(t *testing.T) {
	const full = `
version: 1
scanning:
  db: /srv/vulndb
  rules:
    - repositories: ["team-a/*"]
      frequency: continuous
      scanners: [vuln, secret, config]
      preventPull: {severity: critical, unscanned: allow}
  compliance: {maxSeverity: high, kev: deny}
  update: {interval: 6h, mirror: ""}
`
	cfg, err := Load(strings.NewReader(full), noEnv, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Scanning
	if !s.FromFile || cfg.VulnDBDir() != "/srv/vulndb" || len(s.Rules) != 1 || s.Rules[0].Frequency != scanrules.Continuous ||
		s.Rules[0].PreventPull.Severity != "critical" || s.Update.Interval != 6*time.Hour || s.Workers != 2 {
		t.Fatalf("scanning = %+v", s)
	}

	cfg, err = Load(strings.NewReader("version: 1\nscanning:\n  db: /x\n"), noEnv, Flags{})
	if err != nil || cfg.Scanning.FromFile || cfg.VulnDBDir() != "/x" {
		t.Fatalf("db only: %+v, %v", cfg.Scanning, err)
	}
	cfg, err = Load(nil, noEnv, Flags{})
	if err != nil || cfg.Scanning.FromFile || cfg.VulnDBDir() != "moat-data/vulndb" {
		t.Fatalf("default: %q, %v", cfg.VulnDBDir(), err)
	}
	env := func(k string) (string, bool) { return "/from/env", k == "MOAT_SCANNING_DB" }
	if cfg, err := Load(nil, env, Flags{}); err != nil || cfg.VulnDBDir() != "/from/env" {
		t.Fatalf("MOAT_SCANNING_DB: %q, %v", cfg.VulnDBDir(), err)
	}

	for name, doc := range map[string]string{
		"bad frequency": "version: 1\nscanning:\n  rules:\n    - repositories: ['*']\n      frequency: hourly\n",
		"bad gate":      "version: 1\nscanning:\n  rules:\n    - repositories: ['*']\n      preventPull: {severity: dire}\n",
		"unknown key":   "version: 1\nscanning:\n  rulez: []\n",
		"rule typo":     "version: 1\nscanning:\n  rules:\n    - repos: ['*']\n",
	} {
		if _, err := Load(strings.NewReader(doc), noEnv, Flags{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func noEnv(string) (string, bool) { return "", false }
