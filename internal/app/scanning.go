package app

import (
	"context"
	"database/sql"
	"log/slog"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/inventory"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/scan"
	"github.com/moat-dev/moat/internal/scan/catalog/sqlcache"
	"github.com/moat-dev/moat/internal/scan/vulndb"
	"github.com/moat-dev/moat/internal/scanning"
	"github.com/moat-dev/moat/internal/sqldb"
)

// scanningDeps are the parts the scanning stack is built on.
type scanningDeps struct {
	db     *sqldb.DB
	queue  *jobs.Queue
	outbox *events.Outbox
	md     *sqlstore.Store
	reg    *registry.Registry
	inv    *inventory.Store
	log    *slog.Logger
	access *accessControl // nil with access control off
}

// scanningStack is the scanning service and what it holds open.
type scanningStack struct {
	service *scanning.Service
	live    *vulndb.Live
}

func (s *scanningStack) close() { s.live.Close() }

// openScanning builds the scanner (advisories from the live database in
// cfg's vulndb directory, layer results cached in the database), the
// findings store and the scanning service.
func openScanning(ctx context.Context, cfg config.Config, d scanningDeps) (*scanningStack, error) {
	live, err := vulndb.OpenLive(cfg.VulnDBDir())
	if err != nil {
		return nil, err
	}
	cache, err := sqlcache.New(ctx, d.db, nil)
	if err != nil {
		live.Close()
		return nil, err
	}
	scanner, err := scan.New(scan.WithAdvisories(scan.LiveAdvisories(live)), scan.WithCache(cache), scan.WithLogger(d.log))
	if err != nil {
		live.Close()
		return nil, err
	}
	// Events about an image say where it is stored and where it runs.
	locateTx := func(ctx context.Context, tx *sql.Tx, dg string) ([]findings.Location, error) {
		locs, err := d.md.LocateTx(ctx, tx, digest.Digest(dg))
		if err != nil {
			return nil, err
		}
		running, err := d.inv.RunningTx(ctx, tx, dg)
		if err != nil {
			return nil, err
		}
		out := make([]findings.Location, len(locs))
		for i, l := range locs {
			out[i] = findings.Location{Repository: l.Repository, Tags: l.Tags}
			for _, p := range running {
				if p.Repository == "" || p.Repository == l.Repository {
					out[i].Running = append(out[i].Running, findings.Running{Source: p.Source, Cluster: p.Cluster,
						Namespace: p.Namespace, WorkloadKind: p.WorkloadKind, WorkloadName: p.WorkloadName, Pod: p.Pod, Container: p.Container})
				}
			}
		}
		return out, nil
	}
	store, err := findings.New(ctx, d.db, d.outbox, findings.WithLocator(locateTx))
	if err != nil {
		live.Close()
		return nil, err
	}
	locate := func(ctx context.Context, dg string) (locs []findings.Location, err error) {
		err = d.db.Read(ctx, func(tx *sql.Tx) error {
			locs, err = locateTx(ctx, tx, dg)
			return err
		})
		return locs, err
	}
	opts := []scanning.Option{scanning.WithLogger(d.log), scanning.WithLayerEviction(cache.Evict)}
	if cfg.Scanning.FromFile {
		opts = append(opts, scanning.WithFileConfig(cfg.Scanning.Config))
	}
	if d.access != nil {
		opts = append(opts, scanning.WithBypass(func(ctx context.Context, repo string) bool {
			return d.access.guard.Exempt(ctx, policy.ActionScanBypassPullGate, repo)
		}))
	}
	svc, err := scanning.New(ctx, scanning.Deps{DB: d.db, Queue: d.queue, Findings: store, Scanner: scanner,
		Advisories: live, Registry: d.reg, Locate: locate}, opts...)
	if err != nil {
		live.Close()
		return nil, err
	}
	return &scanningStack{service: svc, live: live}, nil
}
