package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAdmissionSection(t *testing.T) {
	const full = `
version: 1
listeners:
  - name: webhook
    addr: 127.0.0.1:8443
admission:
  listeners: [webhook]
  cluster: prod-eu-1
  registryHosts: ["registry.example.com", "10.0.0.1:5000"]
  otherRegistries: ["mirror.example.com"]
  trustPolicy: release
  rules:
    - name: no-critical
      expression: 'image.findings.critical == 0'
      namespaces: ["prod-*"]
      excludeNamespaces: ["prod-sandbox"]
    - name: signed
      expression: 'image.signed'
      mode: audit
      onError: allow
  inventory:
    kubeconfig: /etc/moat/kubeconfig
    interval: 30s
`
	cfg, err := Load(strings.NewReader(full), noEnv, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Admission
	if a.Cluster != "prod-eu-1" || len(a.RegistryHosts) != 2 || a.OtherRegistries.Allow || len(a.OtherRegistries.Hosts) != 1 ||
		a.TrustPolicy != "release" || len(a.Rules) != 2 || !a.Inventory.Enabled() || a.Inventory.Interval != 30*time.Second {
		t.Fatalf("admission: %+v", a)
	}
	r := a.Rules[0]
	if !r.Enforced() || !r.Applies("prod-eu") || r.Applies("prod-sandbox") || r.Applies("dev") || a.Rules[1].Enforced() || !a.Rules[1].Applies("dev") {
		t.Errorf("selectors and modes: %+v", a.Rules)
	}
	for _, word := range []string{"allow", "deny"} {
		cfg, err := Load(strings.NewReader("version: 1\nadmission:\n  otherRegistries: "+word+"\n"), noEnv, Flags{})
		if err != nil || cfg.Admission.OtherRegistries.Allow != (word == "allow") {
			t.Errorf("otherRegistries %s: %+v %v", word, cfg.Admission.OtherRegistries, err)
		}
	}

	for _, tc := range []struct{ body, want string }{
		{"admission:\n  listeners: [nope]\n", `no listener is named "nope"`},
		{"admission:\n  otherRegistries: maybe\n", "want deny, allow or a list of hosts"},
		{"admission:\n  rules: [{name: a, expression: 'true', mode: warn}]\n", `mode "warn"`},
		{"admission:\n  rules: [{name: a, expression: 'true', onError: ignore}]\n", `onError "ignore"`},
		{"admission:\n  rules: [{name: a, expression: 'true'}, {name: a, expression: 'false'}]\n", "used twice"},
		{"admission:\n  rules: [{name: a}]\n", "expression is empty"},
		{"admission:\n  rules: [{expression: 'true'}]\n", "name is empty"},
		{"admission:\n  registryHosts: [\"https://r.example\"]\n", "want HOST or HOST:PORT"},
		{"admission:\n  cluster: c\n  inventory: {kubeconfig: k, inCluster: true}\n", "exclude each other"},
		{"admission:\n  inventory: {inCluster: true}\n", "needs admission.cluster"},
		{"admission:\n  cluster: c\n  inventory: {inCluster: true, interval: 10ms}\n", "want 1s or more"},
	} {
		_, err := Load(strings.NewReader("version: 1\n"+tc.body), noEnv, Flags{})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.body, err, tc.want)
		}
	}
}
