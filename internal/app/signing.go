package app

import (
	"context"
	"log/slog"
	"os"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/kms"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/sign/keystore"
	"github.com/moat-dev/moat/internal/sign/truststore"
	"github.com/moat-dev/moat/internal/signing"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/opencontainers/go-digest"
)

// OpenSigningStores opens the registry's signing keys (sealed with the
// master key cfg names) and the trust material in db: what the server and
// the moat signing and moat trust commands share.
func OpenSigningStores(ctx context.Context, cfg config.Config, db *sqldb.DB) (*keystore.Store, *truststore.Store, error) {
	ring, err := kms.Load(cfg.MasterKeyPath(), os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	var opts []keystore.Option
	if cfg.Signing.KeyAlgorithm != "" {
		opts = append(opts, keystore.WithAlgorithm(cfg.Signing.KeyAlgorithm))
	}
	keys, err := keystore.New(ctx, db, ring, opts...)
	if err != nil {
		return nil, nil, err
	}
	trust, err := truststore.New(ctx, db, keys.Trusted)
	if err != nil {
		return nil, nil, err
	}
	return keys, trust, nil
}

// openSigning builds the signing service.
func openSigning(ctx context.Context, cfg config.Config, db *sqldb.DB, queue *jobs.Queue, outbox *events.Outbox,
	md *sqlstore.Store, reg *registry.Registry, scans *findings.Store, ac *accessControl, log *slog.Logger) (*signing.Service, error) {
	keys, trust, err := OpenSigningStores(ctx, cfg, db)
	if err != nil {
		return nil, err
	}
	opts := []signing.Option{signing.WithLogger(log)}
	if ac != nil {
		// The principal's grant counts, not the token's scope: cosign reads
		// the image to sign with a pull-scoped token before it asks for
		// push. Runtime pullers should hold pull-only credentials.
		opts = append(opts, signing.WithWriters(func(ctx context.Context, repo string) bool {
			return ac.guard.Exempt(ctx, policy.ActionPush, repo)
		}))
	}
	return signing.New(ctx, signing.Deps{DB: db, Queue: queue, Outbox: outbox, Registry: reg, Keys: keys, Trust: trust,
		Scans: scans, Parents: md.Parents}, cfg.Signing, opts...)
}

// signatureObserver drops the signature gate's cached verdicts of an
// image when a signature of it is pushed (a referrer, or cosign's tag)
// or a manifest of its repository is deleted.
func signatureObserver(svc *signing.Service) distribution.Option {
	return distribution.WithObserver(func(_ context.Context, e distribution.Event) {
		if !e.Manifest || e.Err != nil {
			return
		}
		if e.Action == policy.ActionDelete {
			svc.Invalidate(e.Repository)
			return
		}
		var ds []digest.Digest
		if e.Subject != "" {
			ds = append(ds, e.Subject)
		}
		for _, t := range e.Tags {
			if d, ok := sign.CosignTagSubject(t); ok {
				ds = append(ds, d)
			}
		}
		if len(ds) > 0 {
			svc.Invalidate(e.Repository, ds...)
		}
	})
}
