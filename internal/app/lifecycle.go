package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/expiry"
	"github.com/moat-dev/moat/internal/inventory"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/signing"
)

// lifecycleJob is the job kind that runs every lifecycle policy.
const lifecycleJob = "lifecycle"

// openLifecycle builds the service running lifecycle policies, scheduled
// through the jobs runner once per interval across replicas.
func openLifecycle(cfg config.Config, md *sqlstore.Store, reg *registry.Registry, outbox *events.Outbox,
	inv *inventory.Store, sig *signing.Service, runner *jobs.Runner, log *slog.Logger) (*expiry.Service, error) {
	svc, err := expiry.New(expiry.Deps{
		Store: md, Outbox: outbox, Running: inv.RunningDigests,
		Remove: func(ctx context.Context, repo string, dg digest.Digest) error {
			return expireManifest(ctx, md, reg, repo, dg, 0)
		},
		Signed: func(ctx context.Context, repo string, dg digest.Digest) (bool, error) {
			m, err := reg.StatManifest(ctx, repo, dg.String())
			if err != nil {
				return false, err
			}
			v, err := sig.VerifyImage(ctx, repo, m, sig.PolicyFor(repo))
			return err == nil && v.Trusted, nil
		},
	}, log)
	if err != nil {
		return nil, err
	}
	if err := runner.Handle(lifecycleJob, jobs.Kind{Handler: func(ctx context.Context, _ *jobs.Job) error {
		return svc.RunAll(ctx)
	}}); err != nil {
		return nil, err
	}
	return svc, runner.Every(lifecycleJob, cfg.Repositories.LifecycleEvery(), jobs.Job{Kind: lifecycleJob})
}

// expireManifest deletes dg from repo with what only has a meaning with
// it: its referrers (signatures, SBOMs, attestations), and an index's
// images that no other index of the repository holds.
func expireManifest(ctx context.Context, md *sqlstore.Store, reg *registry.Registry, repo string, dg digest.Digest, depth int) error {
	m, err := reg.StatManifest(ctx, repo, dg.String())
	if err != nil {
		return err
	}
	refs, err := md.Referrers(ctx, repo, dg, "")
	if err != nil {
		return err
	}
	if err := reg.DeleteManifest(ctx, repo, dg.String()); err != nil {
		return err
	}
	if depth > 2 { // a referrer of a referrer of a referrer: enough
		return nil
	}
	var follow []digest.Digest
	for _, r := range refs {
		follow = append(follow, r.Digest)
	}
	// cosign's tag-scheme artifacts about dg.
	for _, suffix := range []string{".sig", ".att", ".sbom"} {
		tag := strings.TrimSuffix(sign.CosignTag(dg), ".sig") + suffix
		if a, err := reg.StatManifest(ctx, repo, tag); err == nil {
			follow = append(follow, a.Digest)
		}
	}
	for _, c := range m.Children {
		parents, err := md.Parents(ctx, repo, c)
		if err != nil {
			return err
		}
		if len(parents) == 0 {
			follow = append(follow, c)
		}
	}
	for _, d := range follow {
		if err := expireManifest(ctx, md, reg, repo, d, depth+1); err != nil && !errors.Is(err, registry.ErrManifestUnknown) {
			return err
		}
	}
	return nil
}
