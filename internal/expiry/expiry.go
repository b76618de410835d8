// Package expiry runs repositories' lifecycle policies: it feeds the
// registry's images, with the facts moat's protections ask about, to the
// lifecycle evaluator, previews what would expire, and expires it.
package expiry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/lifecycle"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/sign"
)

// Store keeps the policies and lists the images; *sqlstore.Store is one.
type Store interface {
	LifecyclePolicy(ctx context.Context, repo string) ([]byte, error)
	SetLifecyclePolicy(ctx context.Context, repo string, doc []byte) error
	LifecycleRepositories(ctx context.Context) ([]string, error)
	LifecycleImages(ctx context.Context, repo string) ([]sqlstore.LifecycleImage, error)
}

// Deps are the service's collaborators. Running returns the digests of
// repo's images that run (the inventory); Signed whether an image of repo
// is signed by a trusted identity. Both are asked only when a policy's
// protections need them.
type Deps struct {
	Store   Store
	Remove  func(ctx context.Context, repo string, d digest.Digest) error
	Outbox  *events.Outbox
	Running func(ctx context.Context, repo string) (map[string]bool, error)
	Signed  func(ctx context.Context, repo string, d digest.Digest) (bool, error)
}

// Service runs lifecycle policies.
type Service struct {
	Deps
	now func() time.Time
	log *slog.Logger
}

// New returns the service.
func New(d Deps, log *slog.Logger) (*Service, error) {
	if d.Store == nil || d.Remove == nil || d.Outbox == nil || d.Running == nil || d.Signed == nil {
		return nil, errors.New("expiry: New needs every dependency")
	}
	return &Service{Deps: d, now: time.Now, log: log}, nil
}

// ErrNoPolicy: the repository has no lifecycle policy.
var ErrNoPolicy = errors.New("the repository has no lifecycle policy")

// Put validates doc and makes it repo's policy.
func (s *Service) Put(ctx context.Context, repo string, doc []byte) error {
	if _, err := lifecycle.Parse(doc); err != nil {
		return err
	}
	return s.Store.SetLifecyclePolicy(ctx, repo, doc)
}

// Get returns repo's policy document.
func (s *Service) Get(ctx context.Context, repo string) ([]byte, error) {
	doc, err := s.Store.LifecyclePolicy(ctx, repo)
	if err == nil && doc == nil {
		err = fmt.Errorf("%s: %w", repo, ErrNoPolicy)
	}
	return doc, err
}

// Delete removes repo's policy.
func (s *Service) Delete(ctx context.Context, repo string) error {
	if _, err := s.Get(ctx, repo); err != nil {
		return err
	}
	return s.Store.SetLifecyclePolicy(ctx, repo, nil)
}

// Preview returns the verdict on each of repo's images under doc (nil:
// the stored policy), changing nothing.
func (s *Service) Preview(ctx context.Context, repo string, doc []byte) ([]lifecycle.Verdict, error) {
	if doc == nil {
		var err error
		if doc, err = s.Get(ctx, repo); err != nil {
			return nil, err
		}
	}
	p, err := lifecycle.Parse(doc)
	if err != nil {
		return nil, err
	}
	return s.evaluate(ctx, repo, p)
}

func (s *Service) evaluate(ctx context.Context, repo string, p *lifecycle.Policy) ([]lifecycle.Verdict, error) {
	recs, err := s.Store.LifecycleImages(ctx, repo)
	if err != nil {
		return nil, err
	}
	// cosign's tag-scheme artifacts (sha256-<hex>.sig, .att, .sbom) are
	// about an image, like referrers: they go with it, not on their own.
	recs = slices.DeleteFunc(recs, func(r sqlstore.LifecycleImage) bool {
		return len(r.Tags) > 0 && !slices.ContainsFunc(r.Tags, func(t string) bool { return !sign.IsCosignTag(t) })
	})
	images := make([]lifecycle.Image, len(recs))
	for i, r := range recs {
		images[i] = lifecycle.Image{Digest: r.Digest.String(), Tags: r.Tags, PushedAt: r.PushedAt, PulledAt: r.PulledAt}
	}
	now := s.now()
	if p.Protect != nil && p.Protect.Running {
		running, err := s.Running(ctx, repo)
		if err != nil {
			return nil, fmt.Errorf("what runs: %w", err)
		}
		for i := range images {
			images[i].Running = running[images[i].Digest]
		}
	}
	verdicts := p.Evaluate(images, now)
	if p.Protect == nil || !p.Protect.Signed {
		return verdicts, nil
	}
	// Protections veto without changing counts, so only the images that
	// would expire need their signatures checked; then judge again.
	changed := false
	for i, v := range verdicts {
		if !v.Expire {
			continue
		}
		signed, err := s.Signed(ctx, repo, digest.Digest(v.Digest))
		if err != nil {
			return nil, fmt.Errorf("signatures of %s: %w", v.Digest, err)
		}
		images[i].Signed, changed = signed, changed || signed
	}
	if changed {
		verdicts = p.Evaluate(images, now)
	}
	return verdicts, nil
}

// Run expires what repo's policy expires: each image is deleted (its
// tags with it; its referrers are collected with it) and announced with
// dev.moat.image.expired. It returns the expired images' verdicts.
func (s *Service) Run(ctx context.Context, repo string) ([]lifecycle.Verdict, error) {
	verdicts, err := s.Preview(ctx, repo, nil)
	if err != nil {
		return nil, err
	}
	ctx = registry.WithActor(ctx, "system:lifecycle")
	var expired []lifecycle.Verdict
	for _, v := range verdicts {
		if !v.Expire {
			continue
		}
		if err := s.Remove(ctx, repo, digest.Digest(v.Digest)); err != nil {
			if errors.Is(err, registry.ErrManifestUnknown) {
				continue // gone meanwhile
			}
			return expired, fmt.Errorf("expire %s@%s: %w", repo, v.Digest, err)
		}
		e, err := events.NewEvent(events.ImageExpired, repo+"@"+v.Digest, map[string]any{
			"repository": repo, "digest": v.Digest, "tags": v.Tags, "rulePriority": v.RulePriority, "reason": v.Reason})
		if err == nil {
			err = s.Outbox.Append(ctx, e)
		}
		if err != nil {
			s.log.Error("lifecycle: announcing an expiry", "repository", repo, "digest", v.Digest, "err", err)
		}
		expired = append(expired, v)
	}
	if len(expired) > 0 {
		s.log.Info("lifecycle: images expired", "repository", repo, "count", len(expired))
	}
	return expired, nil
}

// RunAll runs every repository's policy; the scheduled job.
func (s *Service) RunAll(ctx context.Context) error {
	repos, err := s.Store.LifecycleRepositories(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, repo := range repos {
		if _, err := s.Run(ctx, repo); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
