// Package app is moat serve's composition root: from a configuration it
// builds storage, the database and every store on it, access control and
// the audit log, the registry and its HTTP handlers, the events outbox,
// the durable job queue and the scanning service, and runs them until the
// context ends. cmd/moat parses flags and calls Run; nothing else wires
// parts together.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-dev/moat/internal/api"
	"github.com/moat-dev/moat/internal/audit/checkpoint/dirstore"
	"github.com/moat-dev/moat/internal/blob"
	"github.com/moat-dev/moat/internal/blob/fs"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/inventory"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/server"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/tlsconf/localca"
)

// OpenDatabase opens the database cfg names, with its pool size
// (database.maxConns), for every store of the process.
func OpenDatabase(ctx context.Context, cfg config.Config) (*sqldb.DB, error) {
	var opts []sqldb.Option
	if n := cfg.Database.MaxConns; n > 0 {
		opts = append(opts, sqldb.WithMaxConns(n))
	}
	db, err := sqldb.Open(ctx, cfg.DatabaseDSN(), opts...)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", cfg.DatabaseForLog(), err)
	}
	return db, nil
}

// CheckpointStore is where audit checkpoints live: a directory under the
// fs blob driver's root.
func CheckpointStore(cfg config.Config) (*dirstore.Store, error) {
	return dirstore.New(cfg.AuditCheckpointDir(), dirstore.DefaultKeep)
}

// NewLogger returns the process logger cfg describes, writing to w.
func NewLogger(w io.Writer, c config.Log) *slog.Logger {
	lv, _ := c.SlogLevel() // validated by config.Load
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run builds the registry cfg describes and serves it until ctx is
// cancelled. Logs, the admin's first password and trust instructions go
// to out. Nothing here reads the stored data, so start-up time does not
// grow with the number of blobs or manifests.
func Run(ctx context.Context, cfg config.Config, out io.Writer) error {
	start := time.Now()
	lw := server.NewBufferedWriter(out, 100*time.Millisecond)
	defer lw.Close()
	log := NewLogger(lw, cfg.Log)
	// Bind first: a start that cannot bind (a port in use) must create
	// nothing, above all not the admin user whose password is printed
	// only once.
	socks, err := bindListeners(cfg)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range socks {
			s.Close() // after Serve these are closed already
		}
	}()
	if err := makeDataDir(cfg.DataDir); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	metrics := prometheus.NewRegistry()
	specs, err := listenerSpecs(cfg, log)
	if err != nil {
		return err
	}

	fsd, err := fs.New(cfg.StorageRoot())
	if err != nil {
		return err
	}
	blobs, err := blob.Instrumented(fsd, metrics)
	if err != nil {
		return err
	}
	if err := metrics.Register(storageCollector(fsd.Root())); err != nil {
		return err
	}
	// One database handle for every store (one SQLite writer connection),
	// closed after all of them.
	db, err := OpenDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	outbox, err := events.New(ctx, db, events.WithLogger(log))
	if err != nil {
		return err
	}
	md, err := sqlstore.New(ctx, db, sqlstore.WithOutbox(outbox), sqlstore.WithDefaultTagMutability(cfg.Repositories.TagMutability()))
	if err != nil {
		return fmt.Errorf("metadata store %s: %w", cfg.DatabaseForLog(), err)
	}
	defer md.Close()
	queue, err := jobs.New(ctx, db)
	if err != nil {
		return err
	}
	jobMetrics := jobs.NewCollector(queue)
	runner, err := jobs.NewRunner(queue, jobs.WithLogger(log), jobs.WithObserver(jobMetrics.Observer()))
	if err != nil {
		return err
	}
	if err := metrics.Register(jobMetrics); err != nil {
		return err
	}

	regOpts := []registry.Option{registry.WithLogger(log), registry.WithMaxUploadsPerActor(cfg.Uploads.MaxPerIdentity)}
	distOpts := []distribution.Option{distribution.WithLogger(log)}
	var srvOpts []server.Option
	var ac *accessControl
	if cfg.Auth.Enabled {
		if ac, err = openAccessControl(ctx, cfg, db, specs, log, lw); err != nil {
			return err
		}
		ac.audited.start()
		// Runs after the listeners stop (deferred later, runs earlier than
		// the database's Close): pending audit records are written.
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.HTTP.ShutdownTimeout)
			defer cancel()
			if err := ac.close(cctx); err != nil {
				log.Error("audit log: close", "err", err)
			}
		}()
		// A mount without a source would link blobs of repositories the
		// caller may not read.
		regOpts = append(regOpts, registry.WithAnonymousMount(false))
		distOpts = append(distOpts, ac.distributionOptions()...)
	}
	reg, err := registry.New(blobs, md, regOpts...)
	if err != nil {
		return err
	}
	inv, err := inventory.New(ctx, db)
	if err != nil {
		return err
	}
	sc, err := openScanning(ctx, cfg, scanningDeps{db: db, queue: queue, outbox: outbox, md: md, reg: reg, inv: inv, log: log, access: ac})
	if err != nil {
		return err
	}
	if err := sc.service.Register(runner); err != nil {
		return err
	}
	if err := metrics.Register(prometheusCollectors(sc.service.Collectors())); err != nil {
		return err
	}
	sig, err := openSigning(ctx, cfg, db, queue, outbox, md, reg, sc.service.Findings, ac, log)
	if err != nil {
		return err
	}
	if err := sig.Register(runner); err != nil {
		return err
	}
	distOpts = append(distOpts, distribution.WithPullGate(sc.service.PullGate), distribution.WithPullGate(sig.PullGate),
		signatureObserver(sig))
	hooks, err := openWebhooks(ctx, cfg, db, queue, metrics, log)
	if err != nil {
		return err
	}
	if err := hooks.Register(runner); err != nil {
		return err
	}
	adm, err := openAdmission(ctx, cfg, admissionDeps{db: db, reg: reg, md: md, scans: sc.service.Findings, sig: sig,
		inv: inv, socks: socks, specs: specs, log: log})
	if err != nil {
		return err
	}
	if err := adm.register(runner); err != nil {
		return err
	}
	lc, err := openLifecycle(cfg, md, reg, outbox, inv, sig, runner, log)
	if err != nil {
		return err
	}
	services := api.Config{Scans: sc.service, Webhooks: hooks, Signing: sig,
		Admission: adm.service, Details: adm.details, Inventory: inv, Repositories: md, Lifecycle: lc}
	srvOpts = append(srvOpts, server.WithHandler("/admission/", adm.webhook(cfg.Admission.Listeners, !cfg.Auth.Enabled), func(string) string { return "/admission/v1/validate" }))
	if ac != nil {
		mgmt, err := ac.management(log, services)
		if err != nil {
			return err
		}
		srvOpts = append(srvOpts,
			server.WithHandler("/auth/", ac.tokenEndpoint(log), func(string) string { return "/auth/token" }),
			server.WithHandler("/api/", mgmt, func(string) string { return "/api/v1" }),
			server.WithTask("auth-refresh", refreshInterval, ac.refreshTask))
	} else {
		// Without access control everyone may do everything, as on /v2/:
		// the scan and webhook endpoints are served to all.
		services.Authorizer = openAccess{}
		mgmt, err := api.New(services, api.WithLogger(log))
		if err != nil {
			return err
		}
		srvOpts = append(srvOpts, server.WithHandler("/api/", mgmt, func(string) string { return "/api/v1" }))
	}
	var v2 http.Handler = distribution.New(reg, distOpts...)
	if ac != nil {
		v2 = ac.v2(v2)
	}

	srv, err := server.New(append([]server.Option{
		server.WithLogger(log),
		server.WithMetricsRegistry(metrics),
		server.WithV2(v2),
		server.WithReadiness("database", server.DatabaseReachable(md)),
		server.WithReadiness("storage", server.StorageWritable(fsd)),
		server.WithTask("upload-purge", cfg.Uploads.PurgeInterval, purgeTask(log, reg, fsd, cfg.Uploads.TTL)),
		server.WithTask("gc", cfg.GC.Interval, gcTask(log, reg, cfg.GC.Grace)),
		server.WithTimeouts(cfg.HTTP.ReadHeaderTimeout, cfg.HTTP.IdleTimeout, cfg.HTTP.ShutdownTimeout),
		server.WithMaxHeaderBytes(cfg.Limits.MaxHeaderBytes),
	}, srvOpts...)...)
	if err != nil {
		return err
	}
	lns := make([]server.Listener, 0, len(specs))
	for i, sp := range specs {
		ln := socks[i]
		l := server.Listener{Name: sp.name, Listener: ln}
		if sp.tls != nil {
			l.TLS = sp.tls.Config()
		}
		lns = append(lns, l)
		scheme := "http"
		if sp.tls != nil {
			scheme = "https"
		}
		attrs := []any{"listener", sp.name, "addr", ln.Addr().String(), "scheme", scheme}
		if sp.tls != nil {
			leaf := sp.tls.Leaf()
			attrs = append(attrs, "client_auth", sp.clientAuth, "cert_subject", leaf.Subject.String(), "cert_not_after", leaf.NotAfter)
			if time.Now().After(leaf.NotAfter) {
				log.Warn("TLS certificate has expired; clients will refuse it", "listener", sp.name, "not_after", leaf.NotAfter)
			}
		}
		log.Info("moat listening", attrs...)
		if sp.newCA != "" {
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			fmt.Fprintf(lw, "\n%s\n", localca.TrustInstructions(sp.newCA, net.JoinHostPort(config.ClientHost(sp.addr), port)))
		}
	}

	// Background work: durable jobs, the outbox's consumers and the
	// advisory watcher. They stop after the listeners, so a request in
	// flight can still enqueue work; jobs a stopping worker leaves are
	// handed back for another replica or the next start.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { runner.Run(bg) })
	wg.Go(func() { sc.service.Run(bg) })
	wg.Go(func() { sig.Run(bg) })
	wg.Go(func() { adm.service.Run(bg, outbox) })
	consumers := []events.Consumer{sc.service.Consumer(), hooks.Consumer(), sig.Consumer()}
	if ac != nil {
		consumers = append(consumers, ac.outboxConsumer())
	}
	wg.Go(func() {
		if err := outbox.Run(bg, 500*time.Millisecond, consumers...); err != nil {
			log.Error("event consumers", "err", err)
		}
	})
	defer func() {
		stopBG()
		wg.Wait()
		sc.close()
	}()

	log.Info("moat ready",
		"data_dir", cfg.DataDir,
		"storage", fsd.Root(),
		"database", cfg.DatabaseForLog(),
		"auth", cfg.Auth.Enabled,
		"vulndb", cfg.VulnDBDir(),
		"startup", time.Since(start).Round(time.Millisecond))
	// Start-up output (the admin password, trust instructions) is on the
	// operator's terminal before the first request is answered.
	if err := lw.Flush(); err != nil {
		return fmt.Errorf("writing the log: %w", err)
	}
	if err := srv.ServeListeners(ctx, lns...); err != nil {
		return err
	}
	log.Info("moat stopped")
	return nil
}

// prometheusCollectors bundles collectors to register as one.
type prometheusCollectors []prometheus.Collector

func (cs prometheusCollectors) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

func (cs prometheusCollectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}

// purgeTask removes upload sessions idle longer than ttl: first those the
// metadata store knows, then upload data and commit temp files a crash left
// without a session.
func purgeTask(log *slog.Logger, reg *registry.Registry, fsd *fs.Driver, ttl time.Duration) server.Task {
	return func(ctx context.Context) error {
		n, err := reg.PurgeUploads(ctx, ttl)
		if err != nil {
			return err
		}
		cutoff := time.Now().Add(-ttl)
		orphans, err := fsd.RemoveUploadsBefore(ctx, cutoff)
		if err != nil {
			return err
		}
		temps, err := fsd.RemoveTempFiles(ctx, cutoff)
		if err != nil {
			return err
		}
		if n+orphans+temps > 0 {
			log.Info("purged stale uploads", "sessions", n, "orphaned_uploads", orphans, "temp_files", temps)
		}
		return nil
	}
}

func gcTask(log *slog.Logger, reg *registry.Registry, grace time.Duration) server.Task {
	return func(ctx context.Context) error {
		st, err := reg.CollectGarbage(ctx, grace)
		if st.Deleted > 0 {
			log.Info("garbage collection", "candidates", st.Candidates, "deleted", st.Deleted, "bytes", st.Bytes)
		}
		return err
	}
}

// storageCollector reports the size and free space of the filesystem that
// holds the blobs, read with statfs at scrape time: constant cost, and what
// an operator alerts on before pushes start failing for lack of space.
func storageCollector(root string) prometheus.Collector {
	return storageStats{
		root:  root,
		size:  prometheus.NewDesc("moat_storage_filesystem_size_bytes", "Size of the filesystem holding the blob store.", nil, nil),
		avail: prometheus.NewDesc("moat_storage_filesystem_available_bytes", "Bytes available to moat on the filesystem holding the blob store.", nil, nil),
	}
}

type storageStats struct {
	root        string
	size, avail *prometheus.Desc
}

func (s storageStats) Describe(ch chan<- *prometheus.Desc) { ch <- s.size; ch <- s.avail }

func (s storageStats) Collect(ch chan<- prometheus.Metric) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.root, &st); err != nil {
		ch <- prometheus.NewInvalidMetric(s.size, fmt.Errorf("statfs %s: %w", s.root, err))
		return
	}
	bs := float64(st.Bsize)
	ch <- prometheus.MustNewConstMetric(s.size, prometheus.GaugeValue, float64(st.Blocks)*bs)
	ch <- prometheus.MustNewConstMetric(s.avail, prometheus.GaugeValue, float64(st.Bavail)*bs)
}
