package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestV2Route(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/v2/", routeBase},
		{"/v2", routeBase},
		{"/v2/_catalog", routeCatalog},
		{"/v2/library/alpine/tags/list", routeTags},
		{"/v2/a/blobs/sha256:abc", routeBlob},
		{"/v2/org/team/app/blobs/sha256:abc", routeBlob},
		{"/v2/a/blobs/uploads/", routeUploadStart},
		// As the handler routes it: POST without the trailing slash starts
		// an upload.
		{"/v2/a/blobs/uploads", routeUploadStart},
		{"/v2/a/b/blobs/uploads/0f1e-id", routeUpload},
		{"/v2/a/manifests/latest", routeManifest},
		{"/v2/blobs/manifests/v1", routeManifest},     // repository named "blobs"
		{"/v2/x/manifests/blobs/sha256:1", routeBlob}, // repository "x/manifests"
		{"/v2/x/blobs/uploads/blobs/uploads/", routeUploadStart},
		{"/v2/a/referrers/sha256:abc", routeReferrers},
		{"/v2/a/unknown/thing", routeV2Other},
		{"/v2/a/manifests/", routeV2Other},
		{"/v2/justname", routeV2Other},
		{"/v2x", routeV2Other},
		{"/v2/a/blobs/%zz", routeV2Other}, // the handler answers 404
	}
	for _, tt := range tests {
		if got := v2Route(tt.path); got != tt.want {
			t.Errorf("v2Route(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// fakeV2 stands in for the distribution handler: it echoes, panics or
// blocks depending on the path, which is all the server's seams need.
func fakeV2(release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/panic"):
			panic("boom")
		case strings.HasSuffix(r.URL.Path, "/manifests/late-panic"):
			_, _ = io.WriteString(w, "partial")
			panic("late boom")
		case strings.HasSuffix(r.URL.Path, "/manifests/slow"):
			<-release
			_, _ = io.WriteString(w, "slow done")
		case r.Method == http.MethodPatch || r.Method == http.MethodPut:
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Range", "0-"+strconv.FormatInt(n-1, 10))
			w.WriteHeader(http.StatusAccepted)
		case strings.Contains(r.URL.Path, "/blobs/"):
			// Serve through ReadFrom, like a file-backed blob GET.
			_, _ = io.Copy(w, strings.NewReader(strings.Repeat("b", 1000)))
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	})
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newTestServer(t *testing.T, opts ...Option) (*Server, *prometheus.Registry, *logBuf) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &logBuf{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(append([]Option{WithLogger(log), WithMetricsRegistry(reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg, logs
}

func do(t *testing.T, h http.Handler, method, path string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestMetricsByRouteTemplate(t *testing.T) {
	s, reg, _ := newTestServer(t, WithV2(fakeV2(nil)))
	h := s.handler
	do(t, h, "GET", "/v2/secret-team/app/manifests/latest", nil)
	do(t, h, "GET", "/v2/other/manifests/v1", nil)
	do(t, h, "GET", "/v2/other/blobs/sha256:aa", nil)
	do(t, h, "PATCH", "/v2/other/blobs/uploads/123", strings.NewReader(strings.Repeat("x", 4096)))
	do(t, h, "GET", "/nope", nil)

	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues(routeManifest, "GET", "200")); got != 2 {
		t.Errorf("manifest GET 200 count = %v, want 2", got)
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues(routeUpload, "PATCH", "202")); got != 1 {
		t.Errorf("upload PATCH 202 count = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues(routeOther, "GET", "404")); got != 1 {
		t.Errorf("other 404 count = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.metrics.bytesIn.WithLabelValues(routeUpload)); got != 4096 {
		t.Errorf("bytes in = %v, want 4096", got)
	}
	if got := testutil.ToFloat64(s.metrics.bytesOut.WithLabelValues(routeBlob)); got != 1000 {
		t.Errorf("bytes out on blob route = %v, want 1000 (ReadFrom must be counted)", got)
	}
	if got := testutil.ToFloat64(s.metrics.uploads); got != 0 {
		t.Errorf("uploads in progress after completion = %v", got)
	}

	w := do(t, h, "GET", "/metrics", nil)
	if w.Code != 200 {
		t.Fatalf("/metrics: %d", w.Code)
	}
	text := w.Body.String()
	for _, want := range []string{
		`moat_http_requests_total{code="200",method="GET",route="/v2/{name}/manifests/{reference}"} 2`,
		`moat_http_request_duration_seconds_bucket{method="GET",route="/v2/{name}/manifests/{reference}"`,
		"go_goroutines", "process_resident_memory_bytes", "moat_uploads_in_progress 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, "secret-team") {
		t.Error("/metrics leaks a repository name into labels")
	}
	if n, err := testutil.GatherAndCount(reg, "moat_http_requests_total"); err != nil || n != 5 {
		t.Errorf("series of moat_http_requests_total = %d (%v), want 5", n, err)
	}
}

func TestUploadsInProgressGauge(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	s, _, _ := newTestServer(t, WithV2(h))
	done := make(chan struct{})
	go func() {
		do(t, s.handler, "PATCH", "/v2/a/blobs/uploads/1", strings.NewReader("x"))
		close(done)
	}()
	<-started
	if got := testutil.ToFloat64(s.metrics.uploads); got != 1 {
		t.Errorf("uploads in progress during PATCH = %v, want 1", got)
	}
	close(release)
	<-done
	if got := testutil.ToFloat64(s.metrics.uploads); got != 0 {
		t.Errorf("uploads in progress after PATCH = %v, want 0", got)
	}
}

func TestAccessLogAndRequestID(t *testing.T) {
	s, _, logs := newTestServer(t, WithV2(fakeV2(nil)))
	h := s.handler
	w := do(t, h, "GET", "/v2/team/app/manifests/v1?token=topsecret", nil,
		"Authorization", "Bearer hunter2", RequestIDHeader, "edge-42")
	if got := w.Header().Get(RequestIDHeader); got != "edge-42" {
		t.Errorf("request id = %q, want the well-formed one sent", got)
	}
	w = do(t, h, "GET", "/v2/", nil, RequestIDHeader, "bad id\nwith newline")
	gen := w.Header().Get(RequestIDHeader)
	if gen == "" || strings.Contains(gen, " ") || len(gen) != 32 {
		t.Errorf("generated request id = %q", gen)
	}

	out := logs.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, "topsecret") {
		t.Errorf("access log leaks secrets: %s", out)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line not JSON: %q", l)
		}
		if m["request_id"] == "edge-42" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access log line for the request: %s", out)
	}
	want := map[string]any{
		"msg": "request", "method": "GET", "route": routeManifest, "path": "/v2/team/app/manifests/v1",
		"status": float64(200), "bytes_out": float64(len(`{"ok":true}`)),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	for _, k := range []string{"duration", "remote", "bytes_in"} {
		if _, ok := line[k]; !ok {
			t.Errorf("log line lacks %s", k)
		}
	}
}

func TestPanicRecovery(t *testing.T) {
	s, _, logs := newTestServer(t, WithV2(fakeV2(nil)))
	w := do(t, s.handler, "GET", "/v2/a/manifests/x/panic", nil)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d", w.Code)
	}
	var env struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || len(env.Errors) != 1 || env.Errors[0].Code != "UNKNOWN" {
		t.Errorf("body %q is not a spec error envelope", w.Body.String())
	}
	if got := testutil.ToFloat64(s.metrics.panics); got != 1 {
		t.Errorf("panics = %v", got)
	}
	if !strings.Contains(logs.String(), "handler panic") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	if got := testutil.ToFloat64(s.metrics.inFlight.WithLabelValues(routeV2Other)); got != 0 {
		t.Errorf("in-flight gauge leaked after panic: %v", got)
	}
}

func TestPanicAfterHeadersBreaksConnection(t *testing.T) {
	s, _, _ := newTestServer(t, WithV2(fakeV2(nil)))
	ts := httptest.NewUnstartedServer(s.handler)
	ts.Config.ErrorLog = slogErrorLogger(slog.New(slog.DiscardHandler))
	ts.Start()
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/v2/a/manifests/late-panic")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("client saw a clean response although the handler panicked mid-body")
	}
}

func TestReadiness(t *testing.T) {
	var dbDown atomic.Bool
	dbDown.Store(true)
	s, _, logs := newTestServer(t,
		WithReadiness("database", func(ctx context.Context) error {
			if dbDown.Load() {
				return errors.New("dial tcp 10.0.0.9:5432: connection refused")
			}
			return nil
		}),
		WithReadiness("storage", func(ctx context.Context) error { return nil }),
	)
	h := s.handler
	w := do(t, h, "GET", "/readyz", nil)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "database: fail") ||
		!strings.Contains(w.Body.String(), "storage: ok") {
		t.Errorf("failing check: %d %q", w.Code, w.Body.String())
	}
	if strings.Contains(w.Body.String(), "10.0.0.9") {
		t.Error("/readyz body exposes the error detail")
	}
	if !strings.Contains(logs.String(), "10.0.0.9") {
		t.Error("failing check's error not logged")
	}
	if testutil.ToFloat64(s.metrics.ready) != 0 {
		t.Error("moat_ready should be 0")
	}
	dbDown.Store(false)
	w = do(t, h, "GET", "/readyz", nil)
	if w.Code != http.StatusOK {
		t.Errorf("passing checks: %d %q", w.Code, w.Body.String())
	}
	if w := do(t, h, "GET", "/healthz", nil); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Errorf("/healthz: %d %q", w.Code, w.Body.String())
	}
}

func TestReadinessCheckTimeout(t *testing.T) {
	s, _, _ := newTestServer(t, WithReadiness("stuck", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}))
	s.opts.checkTimeout = 50 * time.Millisecond
	start := time.Now()
	w := do(t, s.handler, "GET", "/readyz", nil)
	if w.Code != http.StatusServiceUnavailable || time.Since(start) > 2*time.Second {
		t.Errorf("stuck check: %d after %s", w.Code, time.Since(start))
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	release := make(chan struct{})
	s, _, _ := newTestServer(t, WithV2(fakeV2(release)), WithTimeouts(time.Second, time.Minute, 5*time.Second))
	ln := listen(t)
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ServeListeners(ctx, Listener{Listener: ln}) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/v2/a/manifests/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{string(b), err}
	}()
	waitFor(t, func() bool { return testutil.ToFloat64(s.metrics.inFlight.WithLabelValues(routeManifest)) == 1 })

	cancel() // as SIGTERM does
	waitFor(t, func() bool { return s.draining.Load() })
	// New connections are refused once the listener is closed.
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond)
		if c != nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v before in-flight request finished", err)
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "slow done" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestShutdownDeadlineCutsOffStuckRequests(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s, _, _ := newTestServer(t, WithV2(fakeV2(release)), WithTimeouts(time.Second, time.Minute, 200*time.Millisecond))
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ServeListeners(ctx, Listener{Listener: ln}) }()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/v2/a/manifests/slow")
		if err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { return testutil.ToFloat64(s.metrics.inFlight.WithLabelValues(routeManifest)) == 1 })
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve = %v, want a drain deadline error", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("shutdown took %s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the shutdown deadline")
	}
}

// A slow body must not be cut off: only headers have a deadline.
func TestSlowUploadOutlivesHeaderTimeout(t *testing.T) {
	s, _, _ := newTestServer(t, WithV2(fakeV2(nil)), WithTimeouts(100*time.Millisecond, time.Second, time.Second))
	ln := listen(t)
	if err := s.StartListeners(Listener{Listener: ln}); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	pr, pw := io.Pipe()
	go func() {
		for range 6 {
			time.Sleep(80 * time.Millisecond)
			if _, err := pw.Write(bytes.Repeat([]byte("z"), 1024)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PATCH", "http://"+ln.Addr().String()+"/v2/a/blobs/uploads/9", pr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-6143" {
		t.Errorf("slow upload: %d range %q", resp.StatusCode, resp.Header.Get("Range"))
	}
}

func TestTasksRunAndStop(t *testing.T) {
	var okRuns, badRuns atomic.Int32
	stopped := make(chan struct{})
	s, _, logs := newTestServer(t,
		WithTask("purge", 20*time.Millisecond, func(ctx context.Context) error { okRuns.Add(1); return nil }),
		WithTask("gc", 20*time.Millisecond, func(ctx context.Context) error { badRuns.Add(1); return errors.New("disk gone") }),
		WithTask("slow", 10*time.Millisecond, func(ctx context.Context) error {
			<-ctx.Done()
			select {
			case <-stopped:
			default:
				close(stopped)
			}
			return ctx.Err()
		}),
		WithTask("disabled", 0, func(ctx context.Context) error { t.Error("disabled task ran"); return nil }),
	)
	ln := listen(t)
	if err := s.StartListeners(Listener{Listener: ln}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return okRuns.Load() >= 2 && badRuns.Load() >= 2 })
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Error("a running task's context was not cancelled at shutdown")
	}
	after := okRuns.Load()
	time.Sleep(60 * time.Millisecond)
	if okRuns.Load() != after {
		t.Error("task kept running after Shutdown")
	}
	if got := testutil.ToFloat64(s.metrics.taskRuns.WithLabelValues("gc", "error")); got < 2 {
		t.Errorf("gc error runs = %v", got)
	}
	if testutil.ToFloat64(s.metrics.taskLastSucc.WithLabelValues("purge")) == 0 {
		t.Error("purge last success not recorded")
	}
	if !strings.Contains(logs.String(), "disk gone") {
		t.Error("task error not logged")
	}
	if got := testutil.ToFloat64(s.metrics.taskRuns.WithLabelValues("slow", "error")); got != 0 {
		t.Errorf("cancellation at shutdown counted as failure: %v", got)
	}
}

func TestOptionErrors(t *testing.T) {
	h := http.NotFoundHandler()
	tests := []struct {
		name string
		opts []Option
	}{
		{"nil logger", []Option{WithLogger(nil)}},
		{"nil registry", []Option{WithMetricsRegistry(nil)}},
		{"nil handler", []Option{WithV2(nil)}},
		{"bad prefix", []Option{WithHandler("api", h, nil)}},
		{"reserved prefix", []Option{WithHandler("/metrics/", h, nil)}},
		{"unnamed check", []Option{WithReadiness("", func(context.Context) error { return nil })}},
		{"negative task interval", []Option{WithTask("x", -time.Second, func(context.Context) error { return nil })}},
		{"duplicate task", []Option{
			WithTask("x", time.Second, func(context.Context) error { return nil }),
			WithTask("x", time.Second, func(context.Context) error { return nil }),
		}},
		{"zero timeouts", []Option{WithTimeouts(0, time.Second, time.Second)}},
		{"zero header bytes", []Option{WithMaxHeaderBytes(0)}},
	}
	for _, tt := range tests {
		if _, err := New(tt.opts...); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	// Registering twice in one registry is refused, not silently merged.
	reg := prometheus.NewRegistry()
	if _, err := New(WithMetricsRegistry(reg)); err != nil {
		t.Fatal(err)
	}
	if _, err := New(WithMetricsRegistry(reg)); err == nil {
		t.Error("second server on the same registry: want a registration error")
	}
}

func TestExtraMountLabelledByPrefix(t *testing.T) {
	s, _, _ := newTestServer(t, WithHandler("/api/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}), nil))
	do(t, s.handler, "GET", "/api/v1/repositories/secret", nil)
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues("/api/v1/", "GET", "418")); got != 1 {
		t.Errorf("mount label count = %v", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
