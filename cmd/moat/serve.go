package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/blob"
	"github.com/moat-dev/moat/internal/blob/fs"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/server"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/tlsconf/localca"
)

func newServeCmd() *cobra.Command {
	def := config.Default()
	var addr, dataDir, database, configFile string
	var tlsCert, tlsKey, tlsClientCA, tlsClientAuth string
	var authOn, tlsSelfSigned bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry (OCI Distribution API at /v2/)",
		Long: `Run the registry.

Settings come from, in rising precedence: built-in defaults, the YAML file
given with --config (or MOAT_CONFIG), environment variables, and flags.
Environment variables: ` + fmt.Sprint(config.EnvNames()) + `.

With no settings, blobs go to ./moat-data/blobs and metadata to the SQLite
database ./moat-data/moat.db; --database postgres://... selects PostgreSQL.

Access control is on: the first start creates the user admin with the
password in MOAT_ADMIN_PASSWORD or prints a generated one, and nothing is
anonymous unless a policy grants it. --auth=false (auth.enabled: false,
MOAT_AUTH_ENABLED=false) serves everyone without credentials.

HTTPS: --tls-cert and --tls-key serve a certificate (reloaded when the
files change); --tls-self-signed makes a local CA and certificate under
<data-dir>/tls on first start and prints how to trust it. Further named
listeners, each with its own TLS, come from "listeners" in the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f config.Flags
			if cmd.Flags().Changed("addr") {
				f.Addr = &addr
			}
			if cmd.Flags().Changed("data-dir") {
				f.DataDir = &dataDir
			}
			if cmd.Flags().Changed("database") {
				f.Database = &database
			}
			if cmd.Flags().Changed("auth") {
				f.Auth = &authOn
			}
			for name, dst := range map[string]**string{"tls-cert": &f.TLSCert, "tls-key": &f.TLSKey,
				"tls-client-ca": &f.TLSClientCA, "tls-client-auth": &f.TLSClientAuth} {
				if cmd.Flags().Changed(name) {
					v, _ := cmd.Flags().GetString(name)
					*dst = &v
				}
			}
			if cmd.Flags().Changed("tls-self-signed") {
				f.TLSSelfSigned = &tlsSelfSigned
			}
			if !cmd.Flags().Changed("config") {
				configFile = os.Getenv("MOAT_CONFIG")
			}
			cfg, err := loadConfig(configFile, f)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", def.Addr, "listen address HOST:PORT")
	cmd.Flags().StringVar(&dataDir, "data-dir", def.DataDir, "directory for blobs and the default SQLite database")
	cmd.Flags().StringVar(&database, "database", "", "metadata database: a postgres:// URL or an SQLite file (default <data-dir>/moat.db)")
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file")
	cmd.Flags().BoolVar(&authOn, "auth", def.Auth.Enabled, "require authentication and enforce access policies (token endpoint at /auth/token); --auth=false serves everyone without credentials")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate chain (with --tls-key)")
	cmd.Flags().StringVar(&tlsKey, "tls-key", "", "private key of --tls-cert")
	cmd.Flags().StringVar(&tlsClientCA, "tls-client-ca", "", "PEM CA certificates that client certificates must chain to")
	cmd.Flags().StringVar(&tlsClientAuth, "tls-client-auth", "", "client certificates: none, optional or require (default require with --tls-client-ca, else none)")
	cmd.Flags().BoolVar(&tlsSelfSigned, "tls-self-signed", false, "serve HTTPS with a certificate from a local CA made under <data-dir>/tls (for trying HTTPS out)")
	return cmd
}

func loadConfig(path string, f config.Flags) (config.Config, error) {
	var file io.Reader
	if path != "" {
		fh, err := os.Open(path)
		if err != nil {
			return config.Config{}, fmt.Errorf("config file: %w", err)
		}
		defer fh.Close()
		file = fh
	}
	cfg, err := config.Load(file, os.LookupEnv, f)
	if err != nil && path != "" {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, err
}

// openDatabase opens the database cfg names, with its pool size
// (database.maxConns), for every store of the process.
func openDatabase(ctx context.Context, cfg config.Config) (*sqldb.DB, error) {
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

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	lv, _ := c.SlogLevel() // validated by config.Load
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve wires storage, metadata, registry and HTTP server together and
// runs until ctx is cancelled. Nothing here reads the stored data, so
// start-up time does not grow with the number of blobs or manifests.
func serve(ctx context.Context, cfg config.Config, logw io.Writer) error {
	start := time.Now()
	lw := server.NewBufferedWriter(logw, 100*time.Millisecond)
	defer lw.Close()
	log := newLogger(lw, cfg.Log)
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
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	md, err := sqlstore.New(ctx, db)
	if err != nil {
		return fmt.Errorf("metadata store %s: %w", cfg.DatabaseForLog(), err)
	}
	defer md.Close()
	regOpts := []registry.Option{registry.WithLogger(log), registry.WithMaxUploadsPerActor(cfg.Uploads.MaxPerIdentity)}
	distOpts := []distribution.Option{distribution.WithLogger(log)}
	var srvOpts []server.Option
	var wrapV2 func(http.Handler) http.Handler
	var ac *accessControl
	if cfg.Auth.Enabled {
		if ac, err = openAccessControl(ctx, cfg, db, specs, log, logw); err != nil {
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
		mgmt, err := ac.management(log)
		if err != nil {
			return err
		}
		srvOpts = append(srvOpts,
			server.WithHandler("/auth/", ac.tokenEndpoint(log), func(string) string { return "/auth/token" }),
			server.WithHandler("/api/", mgmt, func(string) string { return "/api/v1" }),
			server.WithTask("auth-refresh", refreshInterval, ac.refreshTask))
		wrapV2 = ac.v2
	}
	reg, err := registry.New(blobs, md, regOpts...)
	if err != nil {
		return err
	}
	var v2 http.Handler = distribution.New(reg, distOpts...)
	if wrapV2 != nil {
		v2 = wrapV2(v2)
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
			fmt.Fprintf(logw, "\n%s\n", localca.TrustInstructions(sp.newCA, net.JoinHostPort(config.ClientHost(sp.addr), port)))
		}
	}
	log.Info("moat ready",
		"data_dir", cfg.DataDir,
		"storage", fsd.Root(),
		"database", cfg.DatabaseForLog(),
		"auth", cfg.Auth.Enabled,
		"startup", time.Since(start).Round(time.Millisecond))
	if err := srv.ServeListeners(ctx, lns...); err != nil {
		return err
	}
	log.Info("moat stopped")
	return nil
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
