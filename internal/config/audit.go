package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"time"
)

// Audit configures the audit log (kept with access control on).
type Audit struct {
	// RefusalKeys bounds the memory spent aggregating repeated refusals:
	// at most this many distinct refusals per minute are counted one by
	// one (1/64 of them per source), the rest per source, then all
	// together. Default 4096.
	RefusalKeys int `yaml:"refusalKeys"`
	// Checkpoint anchors the log outside the database.
	Checkpoint AuditCheckpoint `yaml:"checkpoint"`
}

// AuditCheckpoint configures signed checkpoints of the audit chain,
// written to the blob storage (<storage root>/audit-checkpoints) and
// checked by `moat audit verify`.
type AuditCheckpoint struct {
	// KeyFile is the Ed25519 signing key (PEM PKCS#8), created mode 0600
	// on first start. Keep it apart from the database; replicas share it
	// (a shared file or a mounted secret). Empty means
	// <dataDir>/audit-checkpoint.key.
	KeyFile string `yaml:"keyFile"`
	// Interval between checkpoints while records are added. Default 1m.
	Interval time.Duration `yaml:"interval"`
	// Records writes a checkpoint once this many records were added since
	// the last; 0 writes by interval only. Default 1000.
	Records int `yaml:"records"`
	// Syslog also sends each checkpoint to a syslog server,
	// udp://HOST:PORT or tcp://HOST:PORT (RFC 5424). Empty: none.
	Syslog string `yaml:"syslog"`
	// WebhookURL also posts each checkpoint's JSON there, signed with
	// HMAC-SHA256 under WebhookSecret (required with it) in the
	// X-Moat-Signature header. Empty: none.
	WebhookURL    string `yaml:"webhookURL"`
	WebhookSecret string `yaml:"webhookSecret"`
}

func defaultAudit() Audit {
	return Audit{RefusalKeys: 4096, Checkpoint: AuditCheckpoint{Interval: time.Minute, Records: 1000}}
}

// auditEnvVars are the audit settings' environment overrides.
var auditEnvVars = []envVar{
	{"AUDIT_REFUSAL_KEYS", integer(func(c *Config) *int { return &c.Audit.RefusalKeys })},
	{"AUDIT_CHECKPOINT_KEY_FILE", str(func(c *Config) *string { return &c.Audit.Checkpoint.KeyFile })},
	{"AUDIT_CHECKPOINT_INTERVAL", dur(func(c *Config) *time.Duration { return &c.Audit.Checkpoint.Interval })},
	{"AUDIT_CHECKPOINT_RECORDS", integer(func(c *Config) *int { return &c.Audit.Checkpoint.Records })},
	{"AUDIT_CHECKPOINT_SYSLOG", str(func(c *Config) *string { return &c.Audit.Checkpoint.Syslog })},
	{"AUDIT_CHECKPOINT_WEBHOOK_URL", str(func(c *Config) *string { return &c.Audit.Checkpoint.WebhookURL })},
	{"AUDIT_CHECKPOINT_WEBHOOK_SECRET", str(func(c *Config) *string { return &c.Audit.Checkpoint.WebhookSecret })},
}

// validate checks the audit block; the webhook secret never appears in
// an error.
func (a Audit) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if a.RefusalKeys < 64 || a.RefusalKeys > 1<<20 {
		bad("audit.refusalKeys %d must be between 64 and %d", a.RefusalKeys, 1<<20)
	}
	cp := a.Checkpoint
	if cp.Interval < time.Second || cp.Interval > 24*time.Hour {
		bad("audit.checkpoint.interval %s must be between 1s and 24h", cp.Interval)
	}
	if cp.Records < 0 {
		bad("audit.checkpoint.records %d must not be negative (0 writes by interval only)", cp.Records)
	}
	if cp.Syslog != "" {
		u, err := url.Parse(cp.Syslog)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Hostname() == "" || u.Port() == "" || u.Path != "" || u.User != nil {
			bad("audit.checkpoint.syslog %q: want udp://HOST:PORT or tcp://HOST:PORT", cp.Syslog)
		}
	}
	switch {
	case cp.WebhookURL != "":
		if u, err := url.Parse(cp.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("audit.checkpoint.webhookURL: want an absolute http(s) URL")
		}
		if cp.WebhookSecret == "" {
			bad("audit.checkpoint.webhookURL needs webhookSecret (the HMAC key)")
		}
	case cp.WebhookSecret != "":
		bad("audit.checkpoint.webhookSecret is set without webhookURL")
	}
	return errs
}

// AuditCheckpointKeyFile is audit.checkpoint.keyFile, or
// <dataDir>/audit-checkpoint.key when unset.
func (c *Config) AuditCheckpointKeyFile() string {
	if c.Audit.Checkpoint.KeyFile != "" {
		return c.Audit.Checkpoint.KeyFile
	}
	return filepath.Join(c.DataDir, "audit-checkpoint.key")
}

// AuditCheckpointDir is where the fs blob driver's storage keeps audit
// checkpoints: <storage root>/audit-checkpoints.
func (c *Config) AuditCheckpointDir() string {
	return filepath.Join(c.StorageRoot(), "audit-checkpoints")
}
