package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is a readiness probe; a nil error means the dependency is usable.
type Check func(ctx context.Context) error

// Task is a periodic background job owned by the server.
type Task func(ctx context.Context) error

type mount struct {
	prefix  string
	handler http.Handler
	route   func(path string) string
}

type namedCheck struct {
	name  string
	check Check
}

type task struct {
	name  string
	every time.Duration
	run   Task
}

type options struct {
	log               *slog.Logger
	registry          *prometheus.Registry
	mounts            []mount
	checks            []namedCheck
	tasks             []task
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	shutdownTimeout   time.Duration
	checkTimeout      time.Duration
	maxHeaderBytes    int
}

// Option configures a Server.
type Option func(*options) error

// WithLogger sets the logger for access logs and server events.
// Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("server: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithMetricsRegistry makes the server register its collectors in reg and
// serve reg at /metrics, so other packages' collectors registered there are
// exported too. Default: a fresh registry holding the server's collectors
// plus the Go runtime and process collectors.
func WithMetricsRegistry(reg *prometheus.Registry) Option {
	return func(o *options) error {
		if reg == nil {
			return errors.New("server: nil metrics registry")
		}
		o.registry = reg
		return nil
	}
}

// WithV2 mounts the OCI distribution API handler at /v2/. Its metrics and
// logs are labelled by the spec's endpoint templates.
func WithV2(h http.Handler) Option {
	return WithHandler("/v2/", h, v2Route)
}

// WithHandler mounts h under prefix (which must start and end with "/").
// route maps a request's escaped path (url.URL.EscapedPath) to a
// low-cardinality label; nil labels every request with the prefix.
func WithHandler(prefix string, h http.Handler, route func(path string) string) Option {
	return func(o *options) error {
		if h == nil {
			return fmt.Errorf("server: nil handler for %s", prefix)
		}
		if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
			return fmt.Errorf("server: mount prefix %q must start and end with /", prefix)
		}
		switch prefix {
		case "/healthz/", "/readyz/", "/metrics/", "/":
			return fmt.Errorf("server: mount prefix %q is reserved", prefix)
		}
		if route == nil {
			route = func(string) string { return prefix }
		}
		o.mounts = append(o.mounts, mount{prefix: prefix, handler: h, route: route})
		return nil
	}
}

// WithReadiness adds a check that /readyz runs; the server is ready only
// when all pass. Names appear in logs and in the /readyz body.
func WithReadiness(name string, c Check) Option {
	return func(o *options) error {
		if name == "" || c == nil {
			return errors.New("server: readiness check needs a name and a function")
		}
		o.checks = append(o.checks, namedCheck{name, c})
		return nil
	}
}

// WithTask runs fn every interval while the server serves, first one
// interval after start (so start-up stays fast). Runs never overlap; a run
// still going at shutdown has its context cancelled. An interval of 0
// disables the task.
func WithTask(name string, every time.Duration, fn Task) Option {
	return func(o *options) error {
		if name == "" || fn == nil {
			return errors.New("server: task needs a name and a function")
		}
		if every < 0 {
			return fmt.Errorf("server: task %s: negative interval %s", name, every)
		}
		if every > 0 {
			o.tasks = append(o.tasks, task{name, every, fn})
		}
		return nil
	}
}

// WithTimeouts sets the header read timeout (default 10s), the keep-alive
// idle timeout (default 2m) and how long shutdown waits for in-flight
// requests before closing connections (default 30s).
func WithTimeouts(readHeader, idle, shutdown time.Duration) Option {
	return func(o *options) error {
		if readHeader <= 0 || idle <= 0 || shutdown <= 0 {
			return errors.New("server: timeouts must be positive")
		}
		o.readHeaderTimeout, o.idleTimeout, o.shutdownTimeout = readHeader, idle, shutdown
		return nil
	}
}

// WithMaxHeaderBytes bounds request header size. Default 1 MiB.
func WithMaxHeaderBytes(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return errors.New("server: max header bytes must be positive")
		}
		o.maxHeaderBytes = n
		return nil
	}
}

// Server is moat's HTTP server. Create it with New, run it with Serve (or
// Start and Shutdown).
type Server struct {
	log      *slog.Logger
	opts     options
	metrics  *metrics
	handler  http.Handler
	draining atomic.Bool

	mu       sync.Mutex
	httpSrvs []*http.Server
	serveCh  chan error
	stop     context.CancelFunc
	tasksWG  sync.WaitGroup
}

// Listener is one address the server serves the handler tree on.
type Listener struct {
	// Name is what ListenerName reports for requests that arrived here.
	Name string
	// Listener accepts the connections; the server closes it.
	Listener net.Listener
	// TLS, when set, makes the listener serve HTTPS (HTTP/2 included,
	// unless NextProtos leaves out "h2"). It must provide a certificate
	// (Certificates, GetCertificate or GetConfigForClient).
	TLS *tls.Config
}

type listenerKey struct{}

// ListenerName returns the name of the listener the request in ctx
// arrived on; false for an unnamed listener (Serve, Start).
func ListenerName(ctx context.Context) (string, bool) {
	n, _ := ctx.Value(listenerKey{}).(string)
	return n, n != ""
}

// New assembles the handler tree. It does not listen.
func New(opts ...Option) (*Server, error) {
	o := options{
		log:               slog.Default(),
		readHeaderTimeout: 10 * time.Second,
		idleTimeout:       2 * time.Minute,
		shutdownTimeout:   30 * time.Second,
		checkTimeout:      3 * time.Second,
		maxHeaderBytes:    1 << 20,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.registry == nil {
		o.registry = prometheus.NewRegistry()
	}
	seen := map[string]bool{}
	for _, t := range o.tasks {
		if seen[t.name] {
			return nil, fmt.Errorf("server: two tasks named %s", t.name)
		}
		seen[t.name] = true
	}
	m, err := newMetrics(o.registry)
	if err != nil {
		return nil, fmt.Errorf("server: register metrics: %w", err)
	}
	s := &Server{log: o.log, opts: o, metrics: m}

	mux := http.NewServeMux()
	mux.Handle("/healthz", s.instrument(fixed(routeHealthz), http.HandlerFunc(s.healthz)))
	mux.Handle("/readyz", s.instrument(fixed(routeReadyz), http.HandlerFunc(s.readyz)))
	mux.Handle("/metrics", s.instrument(fixed(routeMetrics),
		promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{Registry: o.registry, ErrorLog: slogErrorLog{o.log}})))
	for _, mt := range o.mounts {
		route := mt.route
		mux.Handle(mt.prefix, s.instrument(func(r *http.Request) string { return route(r.URL.EscapedPath()) }, mt.handler))
		if mt.prefix == "/v2/" {
			// Clients probe "/v2" without the slash too; answer it in place
			// rather than with the mux's redirect.
			mux.Handle("/v2", s.instrument(fixed(routeBase), mt.handler))
		}
	}
	mux.Handle("/", s.instrument(fixed(routeOther), http.NotFoundHandler()))
	s.handler = mux
	return s, nil
}

func fixed(route string) func(*http.Request) string {
	return func(*http.Request) string { return route }
}

// StartListeners serves on every listener in the background and starts
// the background tasks. Stop with Shutdown.
func (s *Server) StartListeners(ls ...Listener) error {
	if len(ls) == 0 {
		return errors.New("server: no listeners")
	}
	names := map[string]bool{}
	for _, l := range ls {
		if l.Listener == nil {
			return fmt.Errorf("server: listener %q has no net.Listener", l.Name)
		}
		if names[l.Name] {
			return fmt.Errorf("server: two listeners named %q", l.Name)
		}
		names[l.Name] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpSrvs != nil {
		return errors.New("server: already started")
	}
	s.serveCh = make(chan error, len(ls))
	for _, l := range ls {
		ctx := context.WithValue(context.Background(), listenerKey{}, l.Name)
		srv := &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: s.opts.readHeaderTimeout,
			IdleTimeout:       s.opts.idleTimeout,
			MaxHeaderBytes:    s.opts.maxHeaderBytes,
			ErrorLog:          slogErrorLogger(s.log.With("listener", l.Name)),
			BaseContext:       func(net.Listener) context.Context { return ctx },
			TLSConfig:         l.TLS,
		}
		s.httpSrvs = append(s.httpSrvs, srv)
		if l.TLS != nil {
			// ServeTLS adds "h2" to NextProtos and wires HTTP/2; the
			// certificate comes from the config, so no files are named.
			go func() { s.serveCh <- srv.ServeTLS(l.Listener, "", "") }()
		} else {
			go func() { s.serveCh <- srv.Serve(l.Listener) }()
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	for _, t := range s.opts.tasks {
		s.tasksWG.Add(1)
		go s.loop(ctx, t)
	}
	return nil
}

// Shutdown marks the server not ready, stops accepting connections, waits
// for in-flight requests until ctx is done (then closes the remaining
// connections), and stops the background tasks, waiting for them to
// return.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srvs, stop := s.httpSrvs, s.stop
	s.mu.Unlock()
	if srvs == nil {
		return errors.New("server: not started")
	}
	s.draining.Store(true)
	stop()
	errs := make([]error, len(srvs))
	var wg sync.WaitGroup
	for i, srv := range srvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				// Deadline passed with requests still running: cut them off.
				_ = srv.Close()
				errs[i] = fmt.Errorf("server: drain in-flight requests: %w", err)
			}
		}()
	}
	wg.Wait()
	err := errors.Join(errs...)
	s.tasksWG.Wait()
	for range srvs {
		if serr := <-s.serveCh; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, fmt.Errorf("server: serve: %w", serr))
		}
	}
	return err
}

// ServeListeners serves on every listener until ctx is cancelled (e.g. by
// SIGTERM) or any listener fails, then shuts all of them down gracefully
// within the configured shutdown timeout.
func (s *Server) ServeListeners(ctx context.Context, ls ...Listener) error {
	if err := s.StartListeners(ls...); err != nil {
		return err
	}
	s.mu.Lock()
	serveCh := s.serveCh
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "drain_timeout", s.opts.shutdownTimeout)
	case err := <-serveCh:
		// Put the result back for Shutdown, which reads one per listener.
		serveCh <- err
		s.log.Error("listener failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.shutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}

// loop runs one task on its interval until ctx is cancelled.
func (s *Server) loop(ctx context.Context, t task) {
	defer s.tasksWG.Done()
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		err := t.run(ctx)
		d := time.Since(start)
		s.metrics.taskDuration.WithLabelValues(t.name).Observe(d.Seconds())
		switch {
		case err == nil:
			s.metrics.taskRuns.WithLabelValues(t.name, "ok").Inc()
			s.metrics.taskLastSucc.WithLabelValues(t.name).SetToCurrentTime()
			s.log.Debug("task done", "task", t.name, "duration", d)
		case ctx.Err() != nil:
			return // shutting down; the cancellation is not a failure
		default:
			s.metrics.taskRuns.WithLabelValues(t.name, "error").Inc()
			s.log.Warn("task failed", "task", t.name, "duration", d, "err", err)
		}
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz runs every check concurrently. The body names failing checks but
// not their errors, which may hold hostnames or paths; those go to the log.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.checkTimeout)
	defer cancel()
	errs := make([]error, len(s.opts.checks))
	var wg sync.WaitGroup
	for i, c := range s.opts.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.check(ctx)
		}()
	}
	wg.Wait()
	var b strings.Builder
	ok := true
	if s.draining.Load() {
		ok = false
		fmt.Fprintf(&b, "shutdown: %v\n", errDraining)
	}
	for i, c := range s.opts.checks {
		if errs[i] != nil {
			ok = false
			s.log.WarnContext(r.Context(), "readiness check failed", "check", c.name, "err", errs[i])
			fmt.Fprintf(&b, "%s: fail\n", c.name)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if ok {
		s.metrics.ready.Set(1)
	} else {
		s.metrics.ready.Set(0)
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = io.WriteString(w, b.String())
}
