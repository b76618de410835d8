// Package signing is the registry's signing service: it signs the images
// pushed under a signing rule (Notation and cosign signatures, stored as
// referrers of the image), keeps each image's signing status, lists the
// signatures an image has with their verification, and refuses pulls of
// images in repositories under a signature gate that no trusted identity
// signed.
//
// Signing runs as durable jobs that the events outbox starts: an
// image.pushed event (or, under a rule that requires a passing scan,
// scan.completed) enqueues one job per repository and digest; a job
// signs the image, and an index's children, in each format the rule
// names that the active key has not signed yet, so a job redone after a
// crash, or by another replica, never signs twice. Completion and the
// image.signed event are written in one transaction.
package signing

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/sign/keystore"
	"github.com/moat-dev/moat/internal/sign/truststore"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moatsign").
const migrationLockKey int64 = 0x6d6f61747369676e

// Actor is who the registry's signatures are pushed as.
const Actor = "system:moat"

// Errors, classified with errors.Is.
var (
	// ErrNotSignable: the manifest is neither an image nor an index.
	ErrNotSignable = errors.New("not an image or an index")
)

// Registry is what signing reads from and writes to the registry;
// *registry.Registry is one.
type Registry interface {
	StatManifest(ctx context.Context, repo, ref string) (*meta.Manifest, error)
	OpenBlob(ctx context.Context, repo string, d digest.Digest, offset int64) (io.ReadCloser, int64, error)
	PutBlob(ctx context.Context, repo string, d digest.Digest, size int64, body io.Reader) (int64, error)
	PutManifest(ctx context.Context, req registry.PutManifestRequest) (*registry.PutManifestResult, error)
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) (*v1.Index, error)
}

// Scans reads an image's scan, for rules that sign only what passed one;
// *findings.Store is one.
type Scans interface {
	Scan(ctx context.Context, digest string) (findings.Scan, error)
}

// Parents lists the indexes in repo that hold digest: a child of a
// trusted index passes a signature gate.
type Parents func(ctx context.Context, repo string, d digest.Digest) ([]digest.Digest, error)

// Deps are the parts signing joins; all are required.
type Deps struct {
	DB       *sqldb.DB
	Queue    *jobs.Queue
	Outbox   *events.Outbox
	Registry Registry
	Keys     *keystore.Store
	Trust    *truststore.Store
	Scans    Scans
	Parents  Parents
}

// Service signs images and answers for their signatures.
type Service struct {
	Deps
	cfg      config.Signing
	envelope string
	log      *slog.Logger
	now      func() time.Time
	gate     *gateCache
	writer   func(ctx context.Context, repo string) bool
}

// Option configures New.
type Option func(*Service) error

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) error {
		if l == nil {
			return errors.New("signing: nil logger")
		}
		s.log = l
		return nil
	}
}

// WithWriters tells the signature gate who may push to a repository:
// they pass it, since a signer (cosign sign, notation sign) must read the
// unsigned image to sign it, and whoever may replace an image gains
// nothing from being refused it. Default: nobody passes.
func WithWriters(mayPush func(ctx context.Context, repo string) bool) Option {
	return func(s *Service) error {
		if mayPush == nil {
			return errors.New("signing: nil writers check")
		}
		s.writer = mayPush
		return nil
	}
}

// New returns the service for the file's signing section (checked by
// config.Validate). It brings its table up to date.
func New(ctx context.Context, d Deps, cfg config.Signing, opts ...Option) (*Service, error) {
	if d.DB == nil || d.Queue == nil || d.Outbox == nil || d.Registry == nil || d.Keys == nil || d.Trust == nil || d.Scans == nil || d.Parents == nil {
		return nil, errors.New("signing: New needs every dependency")
	}
	s := &Service{Deps: d, cfg: cfg, envelope: sign.MediaTypeJWS, log: slog.Default(), now: time.Now, gate: newGateCache()}
	if cfg.Envelope == "cose" {
		s.envelope = sign.MediaTypeCOSE
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if err := d.DB.Migrate(ctx, migrations, "migrations", "signing_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return s, nil
}

// Register adds the signing job to r.
func (s *Service) Register(r *jobs.Runner) error {
	return r.Handle(kindSign, jobs.Kind{Handler: s.signJob, Lease: time.Minute,
		Backoff: jobs.ExponentialBackoff(2*time.Second, 5*time.Minute)})
}

// Run drops cached verdicts when the trust material changes, checking
// every second, until ctx ends: a change made through another replica
// (or the CLI) applies here within about a second.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.TrustChanged(ctx)
		}
	}
}

// trustVersion changes whenever a trust store, a trust policy or a key
// does.
func (s *Service) trustVersion(ctx context.Context) (string, error) {
	g, err := s.Trust.Generation(ctx)
	if err != nil {
		return "", err
	}
	k, err := s.Keys.Generation(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(g, "/", k), nil
}

// signable reports whether m is what signing signs and gates: an image
// or an index, not a signature, an SBOM or another artifact (cosign's
// signatures and attestations look like images but for their layers).
func signable(m *meta.Manifest) bool {
	if isIndex(m.MediaType) {
		return true
	}
	return isImage(m.MediaType, m.ArtifactType) && !sign.IsCosignArtifact(m.Content)
}

const (
	dockerConfig   = "application/vnd.docker.container.image.v1+json"
	dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	dockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isImage(mediaType, artifactType string) bool {
	return (mediaType == v1.MediaTypeImageManifest || mediaType == dockerManifest) &&
		(artifactType == v1.MediaTypeImageConfig || artifactType == dockerConfig)
}

func isIndex(mediaType string) bool {
	return mediaType == v1.MediaTypeImageIndex || mediaType == dockerList
}
