package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// Config is a project's lint configuration, usually .moat-lint.yaml:
//
//	version: 1
//	disable: [ML006, ML015]
//	failOn: warning
type Config struct {
	Version int      `yaml:"version"`
	Disable []string `yaml:"disable"`
	// FailOn is the lowest severity that fails the run ("error",
	// "warning", "info" or "none"); empty keeps the caller's default.
	FailOn string `yaml:"failOn"`
}

// maxConfigSize bounds a configuration file; a real one is a few lines.
const maxConfigSize = 64 << 10

// ParseConfig reads a Config. Unknown fields, unknown rule ids, unknown
// severities and versions other than 1 are errors wrapping ErrBadConfig.
func ParseConfig(r io.Reader) (*Config, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read: %w", ErrBadConfig, err)
	}
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadConfig, maxConfigSize)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if c.Version != 1 {
		return nil, fmt.Errorf("%w: version %d (want 1)", ErrBadConfig, c.Version)
	}
	for _, id := range c.Disable {
		if _, ok := ruleByID(id); !ok {
			return nil, fmt.Errorf("%w: disable: %w: %q", ErrBadConfig, ErrUnknownRule, id)
		}
	}
	if c.FailOn != "" && c.FailOn != "none" {
		if _, err := ParseSeverity(c.FailOn); err != nil {
			return nil, fmt.Errorf("%w: failOn: %w", ErrBadConfig, err)
		}
	}
	return &c, nil
}

// WithConfig applies a project configuration (its disabled rules).
func WithConfig(c *Config) Option {
	return func(l *Linter) error {
		if c == nil {
			return nil
		}
		return WithDisabled(c.Disable...)(l)
	}
}
