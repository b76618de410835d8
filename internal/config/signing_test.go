package config

import (
	"errors"
	"strings"
	"testing"
)

func TestSigningSection(t *testing.T) {
	const full = `
version: 1
masterKeyFile: /run/secrets/moat-master
signing:
  rules:
    - repositories: ["prod/*", "release/*"]
      formats: [notation]
      requireScan: {maxSeverity: high}
    - repositories: ["*"]
  requireSignature:
    - repositories: ["prod/*"]
      trustPolicy: moat
  keyAlgorithm: rsa-3072
  envelope: cose
  reference: registry.example.com:5000
`
	cfg, err := Load(strings.NewReader(full), noEnv, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Signing
	if r := s.SigningRuleFor("prod/app"); r == nil || r.RequireScan.MaxSeverity != "high" || len(r.FormatsOrDefault()) != 1 {
		t.Fatalf("rule for prod/app: %+v", r)
	}
	if r := s.SigningRuleFor("dev/app"); r == nil || len(r.FormatsOrDefault()) != 2 {
		t.Fatalf("rule for dev/app: %+v", r)
	}
	if g := s.GateFor("prod/app"); g == nil || g.TrustPolicy != "moat" || s.GateFor("dev/app") != nil {
		t.Fatalf("gates: %+v", s.RequireSignature)
	}
	if cfg.MasterKeyPath() != "/run/secrets/moat-master" || s.KeyAlgorithm != "rsa-3072" || s.Envelope != "cose" {
		t.Fatalf("signing = %+v, master key %s", s, cfg.MasterKeyPath())
	}
	if cfg, _ := Load(nil, noEnv, Flags{}); cfg.MasterKeyPath() != "moat-data/master.key" || cfg.Signing.SigningRuleFor("x") != nil {
		t.Fatalf("defaults: %s %+v", cfg.MasterKeyPath(), cfg.Signing)
	}
	env := func(k string) (string, bool) { return "/env/master.key", k == "MOAT_MASTER_KEY_FILE" }
	if cfg, err := Load(nil, env, Flags{}); err != nil || cfg.MasterKeyPath() != "/env/master.key" {
		t.Fatalf("MOAT_MASTER_KEY_FILE: %s, %v", cfg.MasterKeyPath(), err)
	}

	for name, doc := range map[string]string{
		"unknown format":  "signing:\n  rules:\n    - repositories: ['*']\n      formats: [gpg]\n",
		"no repositories": "signing:\n  rules:\n    - formats: [cosign]\n",
		"bad severity":    "signing:\n  rules:\n    - repositories: ['*']\n      requireScan: {maxSeverity: dire}\n",
		"empty severity":  "signing:\n  rules:\n    - repositories: ['*']\n      requireScan: {}\n",
		"gate no policy":  "signing:\n  requireSignature:\n    - repositories: ['prod/*']\n",
		"bad algorithm":   "signing:\n  keyAlgorithm: dsa\n",
		"bad envelope":    "signing:\n  envelope: pgp\n",
		"url reference":   "signing:\n  reference: https://registry.example.com\n",
		"unknown key":     "signing:\n  rulez: []\n",
		"bad filter":      "signing:\n  rules:\n    - repositories: ['prod app']\n",
	} {
		if _, err := Load(strings.NewReader("version: 1\n"+doc), noEnv, Flags{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
