package distribution

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/moat-dev/moat/internal/distribution/v2path"
	"github.com/moat-dev/moat/internal/registry"
)

// Option configures the handler.
type Option func(*handler) error

// WithLogger sets the logger for internal errors. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(h *handler) error {
		if l == nil {
			return errors.New("distribution: nil logger")
		}
		h.log = l
		return nil
	}
}

type handler struct {
	reg       *registry.Registry
	log       *slog.Logger
	mux       *http.ServeMux
	authz     Authorizer
	observers []func(context.Context, Event)
	gates     []PullGate // none: every authorized pull is served
}

// New returns the handler for everything under /v2/. It panics if reg is
// nil or an option fails: both are wiring mistakes caught at startup.
func New(reg *registry.Registry, opts ...Option) http.Handler {
	h, err := newHandler(reg, opts...)
	if err != nil {
		panic(err)
	}
	return h
}

func newHandler(reg *registry.Registry, opts ...Option) (*handler, error) {
	if reg == nil {
		return nil, errors.New("distribution: nil registry")
	}
	h := &handler{reg: reg, log: slog.Default(), mux: http.NewServeMux()}
	for _, o := range opts {
		if err := o(h); err != nil {
			return nil, err
		}
	}
	h.mux.HandleFunc("/v2/{$}", h.wrap(h.base))
	h.mux.HandleFunc("/v2", h.wrap(h.base)) // clients probe it without the slash too
	h.mux.HandleFunc("/v2/_catalog", h.wrap(h.catalog))
	// Repository names contain slashes, so the rest is routed by the
	// path's tail (see route).
	h.mux.HandleFunc("/v2/", h.wrap(h.repository))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	h.mux.ServeHTTP(w, req)
}

// wrap adapts an error-returning handler; the error is written by the one
// error writer.
func (h *handler) wrap(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if err := fn(w, req); err != nil {
			writeError(w, req, h.log, err)
		}
	}
}

// endpoint identifies one resource of the API.
type endpoint = v2path.Endpoint

const (
	epBlob        = v2path.Blob
	epUploadStart = v2path.UploadStart
	epUpload      = v2path.Upload
	epManifest    = v2path.Manifest
	epTags        = v2path.Tags
	epReferrers   = v2path.Referrers
)

// route is a parsed /v2/<name>/... path.
type route struct {
	ep   endpoint
	name string
	arg  string // digest, upload ID or reference
}

// parseRoute parses a request's escaped path with v2path, which the
// server's metric labels use too.
func parseRoute(escapedPath string) (route, bool) {
	r, ok := v2path.Parse(escapedPath)
	return route{ep: r.Endpoint, name: r.Name, arg: r.Arg}, ok
}

func (h *handler) repository(w http.ResponseWriter, req *http.Request) error {
	rt, ok := parseRoute(req.URL.EscapedPath())
	if !ok || rt.name == "" {
		return errNotFound
	}
	if err := h.authorize(req.Context(), rt, req.Method); err != nil {
		h.notifyRefusal(req.Context(), rt, req.Method, err)
		return err
	}
	switch rt.ep {
	case epBlob:
		switch req.Method {
		case http.MethodGet, http.MethodHead:
			return h.getBlob(w, req, rt)
		case http.MethodDelete:
			return h.deleteBlob(w, req, rt)
		}
		return methodNotAllowed(w, "GET, HEAD, DELETE")
	case epUploadStart:
		if req.Method == http.MethodPost {
			return h.startUpload(w, req, rt)
		}
		return methodNotAllowed(w, "POST")
	case epUpload:
		switch req.Method {
		case http.MethodGet:
			return h.uploadStatus(w, req, rt)
		case http.MethodPatch:
			return h.patchUpload(w, req, rt)
		case http.MethodPut:
			return h.finishUpload(w, req, rt)
		case http.MethodDelete:
			return h.cancelUpload(w, req, rt)
		}
		return methodNotAllowed(w, "GET, PATCH, PUT, DELETE")
	case epManifest:
		switch req.Method {
		case http.MethodGet, http.MethodHead:
			return h.getManifest(w, req, rt)
		case http.MethodPut:
			return h.putManifest(w, req, rt)
		case http.MethodDelete:
			return h.deleteManifest(w, req, rt)
		}
		return methodNotAllowed(w, "GET, HEAD, PUT, DELETE")
	case epTags:
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			return h.tags(w, req, rt)
		}
		return methodNotAllowed(w, "GET, HEAD")
	case epReferrers:
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			return h.referrers(w, req, rt)
		}
		return methodNotAllowed(w, "GET, HEAD")
	}
	return errNotFound
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return errMethodNotAllowed
}

// base answers the API version check.
func (h *handler) base(w http.ResponseWriter, req *http.Request) error {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return methodNotAllowed(w, "GET, HEAD")
	}
	writeJSON(w, req, http.StatusOK, "application/json", struct{}{})
	return nil
}
