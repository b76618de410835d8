package registry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/moat-dev/moat/internal/blob"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/reference"
	"github.com/opencontainers/go-digest"
)

// Registry is the domain service behind the distribution API. It is safe
// for concurrent use.
type Registry struct {
	blobs blob.Driver
	md    meta.Store

	now            func() time.Time
	newID          func() string
	log            *slog.Logger
	anonymousMount bool
	maxPage        int
	maxUploads     int // open upload sessions per actor; 0: unlimited

	uploadLocks *keyedMutex // one request per upload session at a time
	digestLocks *keyedMutex // commit+record versus garbage collection
}

// Option configures a Registry.
type Option func(*Registry) error

// WithClock sets the time source. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(r *Registry) error {
		if now == nil {
			return errors.New("registry: nil clock")
		}
		r.now = now
		return nil
	}
}

// WithUploadIDs sets the generator of upload session IDs. IDs must be
// unguessable: whoever knows one can write to the session. Default: 128
// random bits as base32 text.
func WithUploadIDs(newID func() string) Option {
	return func(r *Registry) error {
		if newID == nil {
			return errors.New("registry: nil upload ID generator")
		}
		r.newID = newID
		return nil
	}
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(r *Registry) error {
		if l == nil {
			return errors.New("registry: nil logger")
		}
		r.log = l
		return nil
	}
}

// WithAnonymousMount controls whether a mount request without a source
// repository ("?mount=<digest>" alone) links a blob that any repository
// holds. Default: true. An access-control layer that hides repositories
// from each other must check read access to some holder of the digest
// before allowing it, or disable it.
func WithAnonymousMount(enabled bool) Option {
	return func(r *Registry) error {
		r.anonymousMount = enabled
		return nil
	}
}

// WithMaxPage caps how many tags or repositories one list call returns
// when the client asks for more (n). Default: 10000.
func WithMaxPage(n int) Option {
	return func(r *Registry) error {
		if n <= 0 {
			return fmt.Errorf("registry: max page %d must be positive", n)
		}
		r.maxPage = n
		return nil
	}
}

// WithMaxUploadsPerActor caps the upload sessions one actor (see
// WithActor) may hold open at once; 0 means no cap. Sessions end when
// finished or cancelled, or when purged after the uploads TTL. Anonymous
// requests are not capped: without an identity there is nothing to count
// them by. Default: 0.
func WithMaxUploadsPerActor(n int) Option {
	return func(r *Registry) error {
		if n < 0 {
			return fmt.Errorf("registry: max uploads per actor %d is negative", n)
		}
		r.maxUploads = n
		return nil
	}
}

// New returns a Registry storing bytes in blobs and metadata in md.
func New(blobs blob.Driver, md meta.Store, opts ...Option) (*Registry, error) {
	if blobs == nil || md == nil {
		return nil, errors.New("registry: blob driver and metadata store are required")
	}
	r := &Registry{
		blobs:          blobs,
		md:             md,
		now:            time.Now,
		newID:          rand.Text,
		log:            slog.Default(),
		anonymousMount: true,
		maxPage:        10000,
		uploadLocks:    newKeyedMutex(),
		digestLocks:    newKeyedMutex(),
	}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// WithActor returns a context naming who performs the requests made with
// it; pushes and deletes record it. The authentication layer sets it.
func WithActor(ctx context.Context, name string) context.Context { return meta.WithActor(ctx, name) }

// Actor returns the name set by WithActor, or "" for anonymous requests.
func Actor(ctx context.Context) string { return meta.Actor(ctx) }

func validRepo(repo string) error {
	if err := reference.ValidRepository(repo); err != nil {
		return fmt.Errorf("%w: %w", ErrNameInvalid, err)
	}
	return nil
}

func validDigest(d digest.Digest) error {
	if err := reference.ValidDigest(d); err != nil {
		return fmt.Errorf("%w: %w", ErrDigestInvalid, err)
	}
	return nil
}
