package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moat-dev/moat/internal/wildcard"
)

// Signing is the signing section: which images the registry signs on
// push, with what, and which repositories serve only images a trusted
// identity signed.
//
//	signing:
//	  rules:
//	    - repositories: ["prod/*", "release/*"]
//	      formats: [notation, cosign]        # default both
//	      requireScan: {maxSeverity: high}   # optional: sign only images whose scan passes
//	  requireSignature:
//	    - repositories: ["prod/*"]
//	      trustPolicy: moat                  # a trust policy by name (moat trust policy ...)
//	  keyAlgorithm: ecdsa-p256               # or rsa-3072, for keys the registry makes
//	  envelope: jws                          # Notation envelope: jws or cose
//	  reference: registry.example.com        # the registry's name in cosign payloads
type Signing struct {
	Rules            []SigningRule   `yaml:"rules"`
	RequireSignature []SignatureGate `yaml:"requireSignature"`
	KeyAlgorithm     string          `yaml:"keyAlgorithm"`
	Envelope         string          `yaml:"envelope"`
	Reference        string          `yaml:"reference"`
}

// SigningRule makes the registry sign the images pushed to the
// repositories it matches. The first matching rule applies.
type SigningRule struct {
	Repositories []string `yaml:"repositories"`
	// Formats are "notation" and "cosign"; empty means both.
	Formats []string `yaml:"formats"`
	// RequireScan, when set, signs an image only once its scan completed
	// with no open finding above MaxSeverity.
	RequireScan *RequireScan `yaml:"requireScan"`
}

// RequireScan is a signing rule's scan condition.
type RequireScan struct {
	MaxSeverity string `yaml:"maxSeverity"`
}

// SignatureGate refuses pulls of images in its repositories that no
// identity TrustPolicy trusts signed. The first matching gate applies.
type SignatureGate struct {
	Repositories []string `yaml:"repositories"`
	TrustPolicy  string   `yaml:"trustPolicy"`
}

// Signature formats, envelopes and key algorithms the file may name.
var (
	signingFormats = []string{"notation", "cosign"}
	envelopes      = []string{"jws", "cose"}
	keyAlgorithms  = []string{"ecdsa-p256", "rsa-3072"}
	severities     = []string{"critical", "high", "medium", "low", "unknown"}
)

// FormatsOrDefault is the rule's formats, both when none is named.
func (r SigningRule) FormatsOrDefault() []string {
	if len(r.Formats) == 0 {
		return signingFormats
	}
	return r.Formats
}

// SigningRuleFor returns the first rule matching repo, or nil.
func (s Signing) SigningRuleFor(repo string) *SigningRule {
	for i, r := range s.Rules {
		if wildcard.Any(r.Repositories, repo) {
			return &s.Rules[i]
		}
	}
	return nil
}

// GateFor returns the first signature gate matching repo, or nil.
func (s Signing) GateFor(repo string) *SignatureGate {
	for i, g := range s.RequireSignature {
		if wildcard.Any(g.Repositories, repo) {
			return &s.RequireSignature[i]
		}
	}
	return nil
}

// MasterKeyPath is the file holding the master key that seals the
// registry's secrets, unless MOAT_MASTER_KEY is set.
func (c Config) MasterKeyPath() string {
	if c.MasterKeyFile != "" {
		return c.MasterKeyFile
	}
	return filepath.Join(c.DataDir, "master.key")
}

func (c *Config) validateSigning() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	oneOf := func(key, v string, allowed []string) {
		if v != "" && !slices.Contains(allowed, v) {
			bad("%s %q: want one of %s", key, v, strings.Join(allowed, ", "))
		}
	}
	filters := func(key string, repos []string) {
		if len(repos) == 0 {
			bad("%s.repositories is empty", key)
		}
		for _, r := range repos {
			if err := wildcard.Check(r); err != nil {
				bad("%s.repositories: %v", key, err)
			}
		}
	}
	s := c.Signing
	for i, r := range s.Rules {
		key := fmt.Sprintf("signing.rules[%d]", i)
		filters(key, r.Repositories)
		for _, f := range r.Formats {
			oneOf(key+".formats", f, signingFormats)
		}
		if r.RequireScan != nil {
			if r.RequireScan.MaxSeverity == "" {
				bad("%s.requireScan.maxSeverity is empty", key)
			}
			oneOf(key+".requireScan.maxSeverity", strings.ToLower(r.RequireScan.MaxSeverity), severities)
		}
	}
	for i, g := range s.RequireSignature {
		key := fmt.Sprintf("signing.requireSignature[%d]", i)
		filters(key, g.Repositories)
		if g.TrustPolicy == "" {
			bad("%s.trustPolicy is empty (the built-in policy is \"moat\")", key)
		}
	}
	oneOf("signing.keyAlgorithm", s.KeyAlgorithm, keyAlgorithms)
	oneOf("signing.envelope", s.Envelope, envelopes)
	if strings.Contains(s.Reference, "://") || strings.Contains(s.Reference, "/") {
		bad("signing.reference %q: want a registry host name, such as registry.example.com:5000", s.Reference)
	}
	return errs
}
