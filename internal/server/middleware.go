package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// RequestIDHeader carries the request ID in both directions.
const RequestIDHeader = "X-Request-Id"

// requestID keeps a well-formed ID sent by a proxy in front of moat, so one
// ID follows the request end to end; anything else is replaced.
func requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); validRequestID(id) {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// countingBody counts request body bytes as the handler reads them.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// recorder captures the status and counts response bytes. It forwards
// ReadFrom so blob downloads from files keep using sendfile, and Unwrap so
// http.ResponseController reaches Flush and deadlines.
type recorder struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *recorder) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.n += n
	return n, err
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// internalErrorBody is the distribution spec's error envelope, which every
// client of /v2/ understands and other clients can read as JSON.
const internalErrorBody = `{"errors":[{"code":"UNKNOWN","message":"internal server error"}]}` + "\n"

// instrument wraps h with request IDs, panic recovery, metrics and the
// access log. route names the request for labels; it must return one of a
// fixed set of templates.
func (s *Server) instrument(route func(*http.Request) string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := route(r)
		id := requestID(r)
		w.Header().Set(RequestIDHeader, id)
		var body *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		}
		rec := &recorder{ResponseWriter: w}

		inflight := s.metrics.inFlight.WithLabelValues(rt)
		inflight.Inc()
		upload := isUploadRoute(rt) && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodDelete
		if upload {
			s.metrics.uploads.Inc()
		}
		defer func() {
			inflight.Dec()
			if upload {
				s.metrics.uploads.Dec()
			}
			p := recover()
			if p != nil {
				if p == http.ErrAbortHandler {
					s.finish(r, rt, id, rec, body, start)
					panic(p)
				}
				s.metrics.panics.Inc()
				s.log.ErrorContext(r.Context(), "handler panic", "request_id", id, "route", rt,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					rec.Header().Set("Content-Type", "application/json")
					rec.WriteHeader(http.StatusInternalServerError)
					_, _ = io.WriteString(rec, internalErrorBody)
				} else {
					// Headers are gone; the only honest signal left is to
					// break the connection so the client sees a failure.
					s.finish(r, rt, id, rec, body, start)
					panic(http.ErrAbortHandler)
				}
			}
			s.finish(r, rt, id, rec, body, start)
		}()
		h.ServeHTTP(rec, r)
	})
}

// finish records metrics and writes the access log line.
func (s *Server) finish(r *http.Request, route, id string, rec *recorder, body *countingBody, start time.Time) {
	d := time.Since(start)
	status := rec.status
	if status == 0 {
		// Handler wrote nothing: net/http sends 200 with an empty body.
		status = http.StatusOK
	}
	var in int64
	if body != nil {
		in = body.n.Load()
	}
	s.metrics.observeRequest(route, r.Method, status, in, rec.n, d)
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case route == routeHealthz || route == routeReadyz || route == routeMetrics:
		level = slog.LevelDebug // probes and scrapes every few seconds would drown real traffic
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	s.log.LogAttrs(r.Context(), level, "request",
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes_in", in),
		slog.Int64("bytes_out", rec.n),
		slog.Duration("duration", d),
		slog.String("remote", r.RemoteAddr),
		slog.String("request_id", id),
		slog.String("user_agent", r.UserAgent()),
	)
}

// errDraining is what /readyz reports while the server shuts down.
var errDraining = errors.New("server is shutting down")
