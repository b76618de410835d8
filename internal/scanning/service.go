package scanning

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/scan"
	"github.com/moat-dev/moat/internal/scan/vulndb"
	"github.com/moat-dev/moat/internal/scanrules"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moatscng").
const migrationLockKey int64 = 0x6d6f617473636e67

// Errors, classified with errors.Is.
var (
	// ErrManagedByFile: the configuration file sets the scanning
	// configuration, so the API may not change it.
	ErrManagedByFile = errors.New("the scanning configuration is set by the configuration file")
	// ErrNotScanned: the image has no scan yet.
	ErrNotScanned = errors.New("image not scanned")
)

// Registry is what scanning reads from and writes to the registry;
// *registry.Registry is one.
type Registry interface {
	StatManifest(ctx context.Context, repo, ref string) (*meta.Manifest, error)
	OpenBlob(ctx context.Context, repo string, d digest.Digest, offset int64) (io.ReadCloser, int64, error)
	PutBlob(ctx context.Context, repo string, d digest.Digest, size int64, body io.Reader) (int64, error)
	PutManifest(ctx context.Context, req registry.PutManifestRequest) (*registry.PutManifestResult, error)
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) (*v1.Index, error)
}

// Locator lists the repositories (and tags there) holding a manifest.
type Locator func(ctx context.Context, digest string) ([]findings.Location, error)

// Deps are the parts scanning joins; all are required.
type Deps struct {
	DB         *sqldb.DB
	Queue      *jobs.Queue
	Findings   *findings.Store
	Scanner    *scan.Scanner
	Advisories *vulndb.Live
	Registry   Registry
	Locate     Locator
}

// Service scans images and answers for their findings.
type Service struct {
	Deps
	log      *slog.Logger
	now      func() time.Time
	fileCfg  bool
	cfg      atomic.Pointer[scanrules.Config]
	cfgStamp int64 // updated_at of the stored configuration in force
	bypass   func(ctx context.Context, repo string) bool
	metrics  *metrics
	gate     *gateCache
	// evictLayers drops layer results unused since a time; optional.
	evictLayers func(ctx context.Context, before time.Time) (int64, error)
}

// Option configures New.
type Option func(*Service) error

// WithFileConfig makes c, the configuration file's scanning section, the
// configuration in force; the API then may not change it. Default: the
// configuration stored through the API, or scanrules.Default().
func WithFileConfig(c scanrules.Config) Option {
	return func(s *Service) error {
		if err := c.Validate(); err != nil {
			return err
		}
		s.fileCfg = true
		s.cfg.Store(&c)
		return nil
	}
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) error {
		if l == nil {
			return errors.New("scanning: nil logger")
		}
		s.log = l
		return nil
	}
}

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Service) error {
		if now == nil {
			return errors.New("scanning: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithBypass names callers exempt from pull gates (the policy action
// scan:BypassPullGate). Default: nobody is exempt.
func WithBypass(fn func(ctx context.Context, repo string) bool) Option {
	return func(s *Service) error {
		if fn == nil {
			return errors.New("scanning: nil bypass")
		}
		s.bypass = fn
		return nil
	}
}

// WithLayerEviction lets the daily housekeeping job drop cached layer
// results unused for 30 days. Default: none.
func WithLayerEviction(evict func(ctx context.Context, before time.Time) (int64, error)) Option {
	return func(s *Service) error { s.evictLayers = evict; return nil }
}

// New returns the service. It brings its table up to date and loads the
// configuration in force.
func New(ctx context.Context, d Deps, opts ...Option) (*Service, error) {
	if d.DB == nil || d.Queue == nil || d.Findings == nil || d.Scanner == nil || d.Advisories == nil || d.Registry == nil || d.Locate == nil {
		return nil, errors.New("scanning: New needs a database, a queue, a findings store, a scanner, the advisories, the registry and a locator")
	}
	if err := d.DB.Migrate(ctx, migrations, "migrations", "scanning_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("scanning: %w", err)
	}
	s := &Service{Deps: d, log: slog.Default(), now: time.Now, metrics: newMetrics(),
		bypass: func(context.Context, string) bool { return false }, gate: newGateCache()}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if !s.fileCfg {
		if _, err := s.reloadConfig(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.applyCompliance(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns the configuration in force.
func (s *Service) Config() scanrules.Config { return *s.cfg.Load() }

// ManagedByFile reports whether the configuration file sets the
// configuration.
func (s *Service) ManagedByFile() bool { return s.fileCfg }

// SetConfig validates c and stores it for every replica, recording who
// changed it. It fails with ErrManagedByFile when the file sets it.
func (s *Service) SetConfig(ctx context.Context, c scanrules.Config, by string) (scanrules.Config, error) {
	if s.fileCfg {
		return scanrules.Config{}, ErrManagedByFile
	}
	if err := c.Validate(); err != nil {
		return scanrules.Config{}, err
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return scanrules.Config{}, err
	}
	now := s.now().UTC().UnixNano()
	err = s.DB.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.DB.Q(`
			INSERT INTO scanning_configuration (id, document, updated_at, updated_by) VALUES (1, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at, updated_by = excluded.updated_by`),
			string(doc), now, by)
		return err
	})
	if err != nil {
		return scanrules.Config{}, fmt.Errorf("scanning: store configuration: %w", err)
	}
	if _, err := s.reloadConfig(ctx); err != nil {
		return scanrules.Config{}, err
	}
	return s.Config(), s.applyCompliance(ctx)
}

// reloadConfig loads the stored configuration if it changed and reports
// whether it did.
func (s *Service) reloadConfig(ctx context.Context) (bool, error) {
	var (
		doc   string
		stamp int64
	)
	err := s.DB.R.QueryRowContext(ctx, `SELECT document, updated_at FROM scanning_configuration WHERE id = 1`).Scan(&doc, &stamp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if s.cfg.Load() == nil {
			c := scanrules.Default()
			if err := c.Validate(); err != nil {
				return false, err
			}
			s.cfg.Store(&c)
			return true, nil
		}
		return false, nil
	case err != nil:
		return false, fmt.Errorf("scanning: load configuration: %w", err)
	case stamp == atomic.LoadInt64(&s.cfgStamp) && s.cfg.Load() != nil:
		return false, nil
	}
	var c scanrules.Config
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		return false, fmt.Errorf("scanning: stored configuration: %w", err)
	}
	if err := c.Validate(); err != nil {
		return false, fmt.Errorf("scanning: stored configuration: %w", err)
	}
	s.cfg.Store(&c)
	atomic.StoreInt64(&s.cfgStamp, stamp)
	s.gate.clear()
	return true, nil
}

func (s *Service) applyCompliance(ctx context.Context) error {
	c := s.Config()
	return s.Findings.SetCompliance(ctx, c.Compliance.Severity(), c.Compliance.KEV == scanrules.Allow)
}

// watchEvery is how often Run looks for a new advisory database version
// and a configuration changed by another replica: the issue allows 10 s
// for a running server to notice an import.
const watchEvery = 3 * time.Second

// Run watches the advisory database and the stored configuration until
// ctx ends: a new database version enqueues its rescan, a configuration
// changed through another replica takes effect here.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		if err := s.watchAdvisories(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("advisory database", "err", err)
		}
		if !s.fileCfg {
			changed, err := s.reloadConfig(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Error("reload scanning configuration", "err", err)
			case changed:
				if err := s.applyCompliance(ctx); err != nil {
					s.log.Error("apply compliance", "err", err)
				}
				s.log.Info("scanning configuration changed")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
