package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseWebhooks(t *testing.T) {
	const doc = `
version: 1
webhooks:
  - name: security
    url: https://hooks.example/moat?token=abc
    secretEnv: HOOK_SECRET
    events: ["dev.moat.finding.*", dev.moat.scan.completed]
    repositories: ["team-a/*"]
  - name: chat
    url: http://chat.internal:8080/hook
    secret: inline-secret-0123456789
    enabled: false
`
	cfg, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 2 {
		t.Fatalf("webhooks %+v", cfg.Webhooks)
	}
	sec, chat := cfg.Webhooks[0], cfg.Webhooks[1]
	if sec.Name != "security" || sec.SecretEnv != "HOOK_SECRET" || len(sec.Events) != 2 || sec.Repositories[0] != "team-a/*" || !sec.IsEnabled() {
		t.Errorf("first webhook %+v", sec)
	}
	if chat.IsEnabled() || chat.Secret != "inline-secret-0123456789" {
		t.Errorf("second webhook %+v", chat)
	}
	if _, err := Parse(strings.NewReader("version: 1\nwebhooks:\n  - name: x\n    secrets: y\n")); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown webhook key: %v", err)
	}
}

func TestValidateWebhooks(t *testing.T) {
	hook := func(name, url string) Webhook { return Webhook{Name: name, URL: url, SecretEnv: "S"} }
	checkValidate(t, []validateCase{
		{"valid", func(c *Config) {
			c.Webhooks = []Webhook{hook("a", "https://h.example/x"), hook("b", "http://10.0.0.7:9000/")}
		}, ""},
		{"ftp url", func(c *Config) { c.Webhooks = []Webhook{hook("a", "ftp://h.example/")} }, "webhooks[0].url"},
		{"relative url", func(c *Config) { c.Webhooks = []Webhook{hook("a", "/hook")} }, "webhooks[0].url"},
		{"unparsable url", func(c *Config) { c.Webhooks = []Webhook{hook("a", "http://h.example/%zz")} }, "webhooks[0].url"},
		{"credentials in url", func(c *Config) { c.Webhooks = []Webhook{hook("a", "https://u:pw@h.example/")} }, "user information"},
		{"duplicate names", func(c *Config) { c.Webhooks = []Webhook{hook("a", "https://h/"), hook("a", "https://i/")} }, "webhooks[1].name \"a\" is already"},
		{"empty name", func(c *Config) { c.Webhooks = []Webhook{hook(" ", "https://h/")} }, "webhooks[0].name is empty"},
		{"missing secret", func(c *Config) { c.Webhooks = []Webhook{{Name: "a", URL: "https://h/"}} }, "exactly one of secret"},
		{"two secrets", func(c *Config) {
			c.Webhooks = []Webhook{{Name: "a", URL: "https://h/", Secret: "x", SecretFile: "/f"}}
		}, "found 2"},
	})
}

func TestValidateWebhookURLWithoutSecrets(t *testing.T) {
	cfg := Default()
	cfg.Webhooks = []Webhook{{Name: "a", URL: "https://user:hunter2@h.example/", SecretEnv: "S"}}
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v leaks the URL's password", err)
	}
}

func TestWebhookSecretValue(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-a-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup := env("HOOK_SECRET", "from-the-env-0123456789", "BLANK", " ")
	for _, tc := range []struct {
		w       Webhook
		want    string
		invalid bool
	}{
		{Webhook{Secret: "inline"}, "inline", false},
		{Webhook{SecretEnv: "HOOK_SECRET"}, "from-the-env-0123456789", false},
		{Webhook{SecretFile: file}, "from-a-file-0123456789", false},
		{Webhook{SecretEnv: "UNSET"}, "", true},
		{Webhook{SecretEnv: "BLANK"}, "", true},
		{Webhook{SecretFile: empty}, "", true},
		{Webhook{SecretFile: filepath.Join(dir, "missing")}, "", false},
		{Webhook{}, "", true},
	} {
		got, err := tc.w.SecretValue(lookup)
		if got != tc.want || (tc.want == "") != (err != nil) || tc.invalid != errors.Is(err, ErrInvalid) {
			t.Errorf("SecretValue(%+v) = %q, %v", tc.w, got, err)
		}
	}
}
