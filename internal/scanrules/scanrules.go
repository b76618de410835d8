// Package scanrules is the registry's scanning configuration, shaped like
// ECR's registry scanning configuration: rules choosing, per repository
// filter, when images are scanned, with which scanners, and whether pulls
// of vulnerable or unscanned images are refused; what "compliant" means;
// and how the advisory feeds are updated. It is a leaf package of types
// and rules, read from YAML or JSON, so configuration, the scanning
// service and the API can share it.
package scanrules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/wildcard"
)

// ErrInvalid reports a configuration that cannot be used.
var ErrInvalid = errors.New("invalid scanning configuration")

// Frequency says when a rule's images are scanned.
type Frequency string

// Frequencies.
const (
	// OnPush scans each image when it is pushed.
	OnPush Frequency = "onPush"
	// Continuous scans on push and re-matches stored inventories whenever
	// the advisory data changes.
	Continuous Frequency = "continuous"
	// Manual scans only when asked (POST .../scan).
	Manual Frequency = "manual"
)

// Config is the scanning configuration.
type Config struct {
	// Rules are tried in order; the first whose repositories match an
	// image's repository applies. An image no rule matches is not
	// scanned.
	Rules      []Rule     `yaml:"rules" json:"rules"`
	Compliance Compliance `yaml:"compliance" json:"compliance"`
	Update     Update     `yaml:"update" json:"update"`
	// Workers bounds scans running at once in one process. Default 2.
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"`
}

// Rule applies to the repositories its filters match.
type Rule struct {
	// Repositories are ECR-style wildcard filters ("team-a/*", "*").
	Repositories []string  `yaml:"repositories" json:"repositories"`
	Frequency    Frequency `yaml:"frequency" json:"frequency"`
	// Scanners are "vuln", "secret" and "config"; empty means all three.
	Scanners []string `yaml:"scanners,omitempty" json:"scanners,omitempty"`
	// PreventPull, when set, refuses manifest pulls of images that fail
	// it.
	PreventPull *PreventPull `yaml:"preventPull,omitempty" json:"preventPull,omitempty"`
}

// PreventPull is a pull gate.
type PreventPull struct {
	// Severity refuses images with an open finding at or above it
	// ("critical", "high", ...); empty refuses none for their findings.
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty"`
	// Unscanned is "allow" (default) or "deny": what to do with images
	// whose scan has not completed.
	Unscanned string `yaml:"unscanned,omitempty" json:"unscanned,omitempty"`
}

// Compliance defines image_scans.is_compliant.
type Compliance struct {
	// MaxSeverity is the highest severity an open finding may have.
	// Default "high".
	MaxSeverity string `yaml:"maxSeverity" json:"maxSeverity"`
	// KEV is "deny" (default: a known-exploited finding makes an image
	// non-compliant) or "allow".
	KEV string `yaml:"kev" json:"kev"`
}

// Update schedules advisory feed updates.
type Update struct {
	// Interval between updates; 0 disables them (import by hand with moat
	// db import). Default 0.
	Interval time.Duration `yaml:"interval" json:"interval"`
	// Mirror is a local directory or base URL holding the feeds, for
	// registries without internet access; empty uses the public feeds.
	Mirror string `yaml:"mirror,omitempty" json:"mirror,omitempty"`
}

// updateJSON is Update as JSON spells it: the interval as a duration
// string ("6h"), as in the YAML file.
type updateJSON struct {
	Interval string `json:"interval"`
	Mirror   string `json:"mirror,omitempty"`
}

// MarshalJSON writes the interval as a duration string.
func (u Update) MarshalJSON() ([]byte, error) {
	return json.Marshal(updateJSON{Interval: u.Interval.String(), Mirror: u.Mirror})
}

// UnmarshalJSON reads the interval as a duration string ("6h", "90m";
// "" or "0" for none).
func (u *Update) UnmarshalJSON(b []byte) error {
	var in updateJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*u = Update{Mirror: in.Mirror}
	if in.Interval == "" || in.Interval == "0" {
		return nil
	}
	d, err := time.ParseDuration(in.Interval)
	if err != nil {
		return fmt.Errorf("%w: update.interval %q: want a duration such as 6h", ErrInvalid, in.Interval)
	}
	u.Interval = d
	return nil
}

// Default is one rule scanning every repository continuously with every
// scanner, compliance at most high and no known-exploited findings, and
// no scheduled feed update.
func Default() Config {
	return Config{
		Rules:      []Rule{{Repositories: []string{"*"}, Frequency: Continuous}},
		Compliance: Compliance{MaxSeverity: "high", KEV: "deny"},
		Workers:    2,
	}
}

// Allow and Deny spell the gate and compliance choices.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Validate checks c and fills in defaults in place.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for i := range c.Rules {
		r := &c.Rules[i]
		where := fmt.Sprintf("scanning.rules[%d]", i)
		if len(r.Repositories) == 0 {
			bad("%s.repositories: name at least one filter (\"*\" for all)", where)
		}
		for _, p := range r.Repositories {
			if err := wildcard.Check(p); err != nil {
				bad("%s.repositories: %v", where, err)
			}
		}
		switch r.Frequency {
		case OnPush, Continuous, Manual:
		case "":
			r.Frequency = Continuous
		default:
			bad("%s.frequency %q: want %s, %s or %s", where, r.Frequency, OnPush, Continuous, Manual)
		}
		for _, s := range r.Scanners {
			switch strings.ToLower(s) {
			case "vuln", "secret", "config":
			default:
				bad("%s.scanners: unknown scanner %q (want vuln, secret, config)", where, s)
			}
		}
		if pp := r.PreventPull; pp != nil {
			if pp.Severity != "" {
				if _, err := report.ParseSeverity(pp.Severity); err != nil {
					bad("%s.preventPull.severity: %v", where, err)
				}
			}
			switch pp.Unscanned {
			case "":
				pp.Unscanned = Allow
			case Allow, Deny:
			default:
				bad("%s.preventPull.unscanned %q: want %s or %s", where, pp.Unscanned, Allow, Deny)
			}
			if pp.Severity == "" && pp.Unscanned == Allow {
				bad("%s.preventPull: set severity, unscanned: deny, or both", where)
			}
		}
	}
	if c.Compliance.MaxSeverity == "" {
		c.Compliance.MaxSeverity = "high"
	}
	if _, err := report.ParseSeverity(c.Compliance.MaxSeverity); err != nil {
		bad("scanning.compliance.maxSeverity: %v", err)
	}
	switch c.Compliance.KEV {
	case "":
		c.Compliance.KEV = Deny
	case Allow, Deny:
	default:
		bad("scanning.compliance.kev %q: want %s or %s", c.Compliance.KEV, Allow, Deny)
	}
	if c.Update.Interval < 0 || c.Update.Interval > 0 && c.Update.Interval < 10*time.Minute {
		bad("scanning.update.interval %v: want 0 (off) or at least 10m", c.Update.Interval)
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Workers < 0 || c.Workers > 64 {
		bad("scanning.workers %d: want 1 to 64", c.Workers)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// RuleFor returns the rule that applies to repo, or nil: repo's images
// are not scanned.
func (c *Config) RuleFor(repo string) *Rule {
	for i := range c.Rules {
		for _, p := range c.Rules[i].Repositories {
			if wildcard.Match(p, repo) {
				return &c.Rules[i]
			}
		}
	}
	return nil
}

// ScannerNames are the rule's scanners, all three when it names none.
func (r *Rule) ScannerNames() []string {
	if len(r.Scanners) == 0 {
		return []string{"vuln", "secret", "config"}
	}
	return r.Scanners
}

// OnPush reports whether the rule scans images when they are pushed.
func (r *Rule) OnPush() bool { return r.Frequency == OnPush || r.Frequency == Continuous }

// Severity is the compliance threshold as a severity.
func (c Compliance) Severity() report.Severity {
	s, _ := report.ParseSeverity(c.MaxSeverity) // validated
	return s
}

// GateSeverity is the pull gate's threshold; ok is false when the gate
// does not judge findings.
func (p *PreventPull) GateSeverity() (report.Severity, bool) {
	if p == nil || p.Severity == "" {
		return 0, false
	}
	s, err := report.ParseSeverity(p.Severity)
	return s, err == nil
}
