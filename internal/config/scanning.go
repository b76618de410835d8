package config

import (
	"bytes"
	"fmt"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/moat-dev/moat/internal/scanrules"
)

// Scanning is the scanning section: where the server's advisory
// database lives, and the scanning configuration (rules, compliance,
// feed updates), which, when the file sets it, is the file's to own:
// the API then may not change it.
type Scanning struct {
	// DB is the advisory database directory that moat db import and moat
	// db update --data-dir write to. Default <dataDir>/vulndb.
	DB string `yaml:"db"`
	// Rules and the rest; see scanrules.Config.
	scanrules.Config `yaml:",inline"`
	// FromFile reports that the file set rules, compliance, update or
	// workers.
	FromFile bool `yaml:"-"`
}

// UnmarshalYAML reads the section and notes whether it sets the
// scanning configuration or only the database directory.
func (s *Scanning) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != "db" {
				s.FromFile = true
			}
		}
	}
	// Node.Decode would not inherit the decoder's refusal of unknown
	// keys, so a typo in a rule would pass unnoticed: decode again with
	// it on.
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	type plain Scanning // without this method, so Decode does not recurse
	if err := dec.Decode((*plain)(s)); err != nil {
		return fmt.Errorf("line %d: scanning: %w", n.Line, err)
	}
	return nil
}

// VulnDBDir is the server's advisory database directory.
func (c Config) VulnDBDir() string {
	if c.Scanning.DB != "" {
		return c.Scanning.DB
	}
	return filepath.Join(c.DataDir, "vulndb")
}

// validateScanning checks a scanning configuration the file set.
func (c *Config) validateScanning() []error {
	if !c.Scanning.FromFile {
		return nil
	}
	if err := c.Scanning.Config.Validate(); err != nil {
		return []error{fmt.Errorf("%w: %w", ErrInvalid, err)}
	}
	return nil
}
