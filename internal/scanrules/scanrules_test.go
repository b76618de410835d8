package scanrules

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/report"
	"gopkg.in/yaml.v3"
)

func TestParseAndRules(t *testing.T) {
	const doc = `
rules:
  - repositories: ["team-a/*"]
    frequency: continuous
    scanners: [vuln, secret, config]
    preventPull: {severity: critical, unscanned: allow}
  - repositories: ["legacy/*", "tmp-*"]
    frequency: manual
  - repositories: ["*"]
    frequency: onPush
    scanners: [vuln]
compliance: {maxSeverity: high, kev: deny}
update: {interval: 6h, mirror: /srv/feeds}
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Update.Interval != 6*time.Hour || c.Workers != 2 || c.Compliance.Severity() != report.High {
		t.Fatalf("parsed %+v", c)
	}
	for repo, want := range map[string]Frequency{"team-a/app": Continuous, "legacy/x": Manual, "tmp-1": Manual, "other": OnPush} {
		if r := c.RuleFor(repo); r == nil || r.Frequency != want {
			t.Errorf("RuleFor(%s) = %+v, want %s", repo, r, want)
		}
	}
	if sev, ok := c.RuleFor("team-a/app").PreventPull.GateSeverity(); !ok || sev != report.Critical {
		t.Errorf("gate severity = %v, %v", sev, ok)
	}
	if got := c.RuleFor("legacy/x").ScannerNames(); len(got) != 3 {
		t.Errorf("default scanners = %v", got)
	}
	none := Config{Rules: []Rule{{Repositories: []string{"prod/*"}}}}
	if err := none.Validate(); err != nil || none.RuleFor("dev/x") != nil || none.Rules[0].Frequency != Continuous {
		t.Errorf("a repository no rule matches: %v, %+v", err, none)
	}
	d := Default()
	if err := d.Validate(); err != nil || !d.RuleFor("anything").OnPush() {
		t.Errorf("default: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		c    Config
		want string
	}{
		"no filter":       {Config{Rules: []Rule{{}}}, "rules[0].repositories"},
		"bad filter":      {Config{Rules: []Rule{{Repositories: []string{"has space"}}}}, "rules[0].repositories"},
		"bad frequency":   {Config{Rules: []Rule{{Repositories: []string{"*"}, Frequency: "hourly"}}}, "frequency"},
		"bad scanner":     {Config{Rules: []Rule{{Repositories: []string{"*"}, Scanners: []string{"virus"}}}}, "unknown scanner"},
		"bad severity":    {Config{Rules: []Rule{{Repositories: []string{"*"}, PreventPull: &PreventPull{Severity: "dire"}}}}, "preventPull.severity"},
		"bad unscanned":   {Config{Rules: []Rule{{Repositories: []string{"*"}, PreventPull: &PreventPull{Unscanned: "maybe"}}}}, "preventPull.unscanned"},
		"empty gate":      {Config{Rules: []Rule{{Repositories: []string{"*"}, PreventPull: &PreventPull{}}}}, "preventPull"},
		"bad compliance":  {Config{Compliance: Compliance{MaxSeverity: "extreme"}}, "maxSeverity"},
		"bad kev":         {Config{Compliance: Compliance{KEV: "sometimes"}}, "kev"},
		"update too fast": {Config{Update: Update{Interval: time.Minute}}, "update.interval"},
		"workers":         {Config{Workers: 1000}, "workers"},
	} {
		err := tc.c.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
}

// The update interval reads and writes as a duration string in JSON, as in
// YAML.
func TestUpdateJSON(t *testing.T) {
	var c Config
	if err := json.Unmarshal([]byte(`{"update":{"interval":"6h","mirror":"/srv/feeds"}}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Update.Interval != 6*time.Hour || c.Update.Mirror != "/srv/feeds" {
		t.Fatalf("update = %+v", c.Update)
	}
	b, err := json.Marshal(c.Update)
	if err != nil || string(b) != `{"interval":"6h0m0s","mirror":"/srv/feeds"}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	for _, bad := range []string{`{"update":{"interval":"soon"}}`, `{"update":{"interval":21600}}`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
