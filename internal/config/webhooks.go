package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// Webhook is an HTTP receiver of moat's events declared in the file:
//
//	webhooks:
//	  - name: security-team
//	    url: https://hooks.example/moat
//	    secretFile: /run/secrets/moat-hook   # or secret: ..., or secretEnv: VAR
//	    events: ["dev.moat.finding.*", "dev.moat.scan.completed"]   # default: all
//	    repositories: ["team-a/*"]                                  # default: all
//
// The server stores these at start as config-managed webhooks, which the
// API lists but may not change; one removed from the file is deleted.
// The name, URL and filter syntax are checked in full when the server
// stores them (package webhooks); Validate catches what the file alone
// shows.
type Webhook struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Exactly one of Secret (the HMAC key itself), SecretFile (a file
	// holding it; surrounding whitespace is trimmed) and SecretEnv (the
	// name of an environment variable holding it) is set. Prefer the
	// latter two: the file is often readable by more people than the key
	// should be.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secretFile"`
	SecretEnv  string `yaml:"secretEnv"`
	// Events are event types ("dev.moat.image.pushed") or prefixes
	// ("dev.moat.finding.*"); empty means all.
	Events []string `yaml:"events"`
	// Repositories are repository names with "*" wildcards; empty means
	// all.
	Repositories []string `yaml:"repositories"`
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled"`
}

// IsEnabled is Enabled with its default applied.
func (w Webhook) IsEnabled() bool { return w.Enabled == nil || *w.Enabled }

// maxSecretFile bounds a secret file: keys are short, and a wrong path
// must not fill memory.
const maxSecretFile = 64 << 10

// SecretValue returns the webhook's HMAC key from wherever the file says
// it is; lookup reads the environment (os.LookupEnv in production).
func (w Webhook) SecretValue(lookup func(string) (string, bool)) (string, error) {
	switch {
	case w.Secret != "":
		return w.Secret, nil
	case w.SecretEnv != "":
		v, ok := lookup(w.SecretEnv)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("%w: webhook %q: environment variable %s (secretEnv) is not set", ErrInvalid, w.Name, w.SecretEnv)
		}
		return strings.TrimSpace(v), nil
	case w.SecretFile != "":
		f, err := os.Open(w.SecretFile)
		if err != nil {
			return "", fmt.Errorf("config: webhook %q secretFile: %w", w.Name, err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		if err != nil {
			return "", fmt.Errorf("config: webhook %q secretFile: %w", w.Name, err)
		}
		if len(b) > maxSecretFile {
			return "", fmt.Errorf("%w: webhook %q secretFile %s is larger than %d bytes", ErrInvalid, w.Name, w.SecretFile, maxSecretFile)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("%w: webhook %q secretFile %s is empty", ErrInvalid, w.Name, w.SecretFile)
	}
	return "", fmt.Errorf("%w: webhook %q has no secret", ErrInvalid, w.Name)
}

// validateWebhooks checks names (set, unique), URLs (absolute http or
// https, without credentials, which would be shown and logged with the
// URL) and that each webhook names exactly one secret source.
func (c *Config) validateWebhooks() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	seen := map[string]int{}
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		switch prev, dup := seen[w.Name]; {
		case strings.TrimSpace(w.Name) == "":
			bad("%s.name is empty", key)
		case dup:
			bad("%s.name %q is already the name of webhooks[%d]", key, w.Name, prev)
		default:
			seen[w.Name] = i
		}
		if err := checkWebhookURL(w.URL); err != nil {
			bad("%s.url %v", key, err)
		}
		n := 0
		for _, s := range []string{w.Secret, w.SecretFile, w.SecretEnv} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			bad("%s: set exactly one of secret, secretFile and secretEnv (found %d)", key, n)
		}
	}
	return errs
}

func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return errors.New("must be an absolute http or https URL")
	case u.User != nil:
		return errors.New("must not contain user information; put credentials in the secret")
	}
	return nil
}
