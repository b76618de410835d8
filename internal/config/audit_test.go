package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditDefaultsAndFile(t *testing.T) {
	d := Default()
	if d.Audit.RefusalKeys != 4096 || d.Audit.Checkpoint.Interval != time.Minute || d.Audit.Checkpoint.Records != 1000 {
		t.Errorf("defaults %+v", d.Audit)
	}
	if got := d.AuditCheckpointKeyFile(); got != filepath.Join("moat-data", "audit-checkpoint.key") {
		t.Errorf("default key file %q", got)
	}
	if got := d.AuditCheckpointDir(); got != filepath.Join("moat-data", "blobs", "audit-checkpoints") {
		t.Errorf("checkpoint dir %q", got)
	}
	cfg, err := Load(strings.NewReader(`version: 1
storage:
  root: /srv/blobs
audit:
  refusalKeys: 100
  checkpoint:
    keyFile: /run/secrets/audit.key
    interval: 30s
    records: 0
    syslog: tcp://logs.example:6514
    webhookURL: https://hooks.example/moat
    webhookSecret: s3cret
`), nil, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	want := Audit{RefusalKeys: 100, Checkpoint: AuditCheckpoint{KeyFile: "/run/secrets/audit.key", Interval: 30 * time.Second,
		Syslog: "tcp://logs.example:6514", WebhookURL: "https://hooks.example/moat", WebhookSecret: "s3cret"}}
	if cfg.Audit != want {
		t.Errorf("file: %+v, want %+v", cfg.Audit, want)
	}
	if cfg.AuditCheckpointKeyFile() != "/run/secrets/audit.key" || cfg.AuditCheckpointDir() != "/srv/blobs/audit-checkpoints" {
		t.Errorf("paths %q %q", cfg.AuditCheckpointKeyFile(), cfg.AuditCheckpointDir())
	}
}

func TestAuditEnv(t *testing.T) {
	cfg, err := Load(nil, env("MOAT_AUDIT_REFUSAL_KEYS", "512", "MOAT_AUDIT_CHECKPOINT_KEY_FILE", "/k",
		"MOAT_AUDIT_CHECKPOINT_INTERVAL", "10s", "MOAT_AUDIT_CHECKPOINT_RECORDS", "50",
		"MOAT_AUDIT_CHECKPOINT_SYSLOG", "udp://127.0.0.1:514",
		"MOAT_AUDIT_CHECKPOINT_WEBHOOK_URL", "http://h/x", "MOAT_AUDIT_CHECKPOINT_WEBHOOK_SECRET", "sec"), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	want := Audit{RefusalKeys: 512, Checkpoint: AuditCheckpoint{KeyFile: "/k", Interval: 10 * time.Second, Records: 50,
		Syslog: "udp://127.0.0.1:514", WebhookURL: "http://h/x", WebhookSecret: "sec"}}
	if cfg.Audit != want {
		t.Errorf("env: %+v, want %+v", cfg.Audit, want)
	}
	for _, name := range []string{"MOAT_AUDIT_REFUSAL_KEYS", "MOAT_AUDIT_CHECKPOINT_RECORDS", "MOAT_AUDIT_CHECKPOINT_INTERVAL"} {
		if _, err := Load(nil, env(name, "lots"), Flags{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=lots: %v", name, err)
		}
	}
}

func TestValidateAudit(t *testing.T) {
	checkValidate(t, []validateCase{
		{"syslog udp", func(c *Config) { c.Audit.Checkpoint.Syslog = "udp://[::1]:514" }, ""},
		{"webhook", func(c *Config) { c.Audit.Checkpoint.WebhookURL, c.Audit.Checkpoint.WebhookSecret = "https://h/x", "s" }, ""},
		{"count only by interval", func(c *Config) { c.Audit.Checkpoint.Records = 0 }, ""},
		{"few refusal keys", func(c *Config) { c.Audit.RefusalKeys = 10 }, "audit.refusalKeys"},
		{"zero interval", func(c *Config) { c.Audit.Checkpoint.Interval = 0 }, "audit.checkpoint.interval"},
		{"week interval", func(c *Config) { c.Audit.Checkpoint.Interval = 7 * 24 * time.Hour }, "audit.checkpoint.interval"},
		{"negative records", func(c *Config) { c.Audit.Checkpoint.Records = -1 }, "audit.checkpoint.records"},
		{"syslog without port", func(c *Config) { c.Audit.Checkpoint.Syslog = "udp://logs" }, "audit.checkpoint.syslog"},
		{"syslog scheme", func(c *Config) { c.Audit.Checkpoint.Syslog = "syslog://logs:514" }, "audit.checkpoint.syslog"},
		{"relative webhook", func(c *Config) { c.Audit.Checkpoint.WebhookURL, c.Audit.Checkpoint.WebhookSecret = "/hook", "s" }, "audit.checkpoint.webhookURL"},
		{"webhook without secret", func(c *Config) { c.Audit.Checkpoint.WebhookURL = "https://h/x" }, "needs webhookSecret"},
		{"secret without webhook", func(c *Config) { c.Audit.Checkpoint.WebhookSecret = "s" }, "without webhookURL"},
	})
	// The secret stays out of errors.
	c := Default()
	c.Audit.Checkpoint.WebhookURL, c.Audit.Checkpoint.WebhookSecret = "ftp://user:hunter2@h/x", "topsecret"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v", err)
	}
}
