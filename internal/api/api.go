package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/moat-dev/moat/internal/admission"
	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/checkpoint"
	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/policystore"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/expiry"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/inventory"
	"github.com/moat-dev/moat/internal/lifecycle"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/scanning"
	"github.com/moat-dev/moat/internal/scanrules"
	"github.com/moat-dev/moat/internal/sign/keystore"
	"github.com/moat-dev/moat/internal/sign/truststore"
	"github.com/moat-dev/moat/internal/signing"
	"github.com/moat-dev/moat/internal/webhooks"
)

// Identities is what the API needs from the identity service;
// *identity.Service is one.
type Identities interface {
	CreateUser(ctx context.Context, name, password string) (identity.User, error)
	SetPassword(ctx context.Context, name, password string) error
	SetUserDisabled(ctx context.Context, name string, disabled bool) error
	DeleteUser(ctx context.Context, name string) error
	Users(ctx context.Context) ([]identity.User, error)
	CreateGroup(ctx context.Context, name string) (identity.Group, error)
	DeleteGroup(ctx context.Context, name string) error
	Groups(ctx context.Context) ([]identity.Group, error)
	Members(ctx context.Context, group string) ([]string, error)
	AddMember(ctx context.Context, group, user string) error
	RemoveMember(ctx context.Context, group, user string) error
	CreateRobot(ctx context.Context, name string, o identity.RobotOptions) (identity.Robot, string, error)
	RotateRobotSecret(ctx context.Context, name string) (string, error)
	SetRobotDisabled(ctx context.Context, name string, disabled bool) error
	DeleteRobot(ctx context.Context, name string) error
	Robots(ctx context.Context) ([]identity.Robot, error)
	CreateAccessToken(ctx context.Context, user string, o identity.TokenOptions) (identity.AccessToken, string, error)
	RevokeAccessToken(ctx context.Context, user string, id int64) error
	AccessTokens(ctx context.Context, user string) ([]identity.AccessToken, error)
	Lookup(ctx context.Context, subject string) (identity.Principal, error)
}

// Policies is what the API needs from the policy store;
// *policystore.Store is one.
type Policies interface {
	Put(ctx context.Context, name string, kind policy.Kind, doc []byte) error
	Delete(ctx context.Context, name string) error
	Attach(ctx context.Context, name string, t policystore.Target) error
	Detach(ctx context.Context, name string, t policystore.Target) error
	List(ctx context.Context) ([]policystore.Stored, int64, error)
}

// AuditLog is what the API needs from the audit log; *audit.Log is one.
type AuditLog interface {
	Record(ctx context.Context, op audit.Op) error
	Query(ctx context.Context, f audit.Filter) ([]audit.Record, int64, error)
	Export(ctx context.Context, w io.Writer, f audit.Filter) (int, error)
	Verify(ctx context.Context) (audit.Report, error)
}

// CheckpointVerifier checks the audit chain against its newest signed
// checkpoint; checkpoint.Verifier is one.
type CheckpointVerifier interface {
	Verify(ctx context.Context) (checkpoint.Result, error)
}

// Authorizer answers the admin checks; *auth.Guard is one. Refusals are
// errors with a Challenge() string method (see auth.DeniedError).
type Authorizer interface {
	Authorize(ctx context.Context, action policy.Action, repo string) error
	// AuthorizeTokenMint decides whether the caller may mint a personal
	// access token for user, and by when it must expire (zero: no bound).
	AuthorizeTokenMint(ctx context.Context, user string) (notAfter time.Time, err error)
	// AuthorizeTokenAccess decides whether the caller may list and revoke
	// user's personal access tokens.
	AuthorizeTokenAccess(ctx context.Context, user string) error
}

// Config holds the API's collaborators. Authorizer is required. The
// access-control endpoints (users, robots, groups, tokens, policies,
// audit) are served when Identities is set, and then Policies, Audit,
// Engine and Reload are required too: without them (access control off)
// only the scan and webhook endpoints are.
type Config struct {
	Identities Identities
	Policies   Policies
	Audit      AuditLog
	Authorizer Authorizer
	// Engine returns the policy engine in force, for simulation.
	Engine func() *policy.Engine
	// Reload recompiles the engine after a policy change, so it applies
	// at once in this process.
	Reload func(ctx context.Context) (bool, error)
	// Checkpoints, when set, makes GET /api/v1/audit/verify check the
	// chain against its newest signed checkpoint too. Optional.
	Checkpoints CheckpointVerifier
	// Scans, when set, serves the scan and SBOM endpoints of images and
	// the scanning configuration. Optional.
	Scans Scans
	// Webhooks serves /api/v1/webhooks; optional: nil leaves those
	// endpoints out.
	Webhooks Webhooks
	// Signing serves image signatures, /api/v1/signing and /api/v1/trust;
	// optional.
	Signing Signing
	// Admission serves /api/v1/check and /api/v1/admission/rules, and
	// Details image details; Inventory serves /api/v1/inventory and
	// /api/v1/vulnerabilities/{id}/running. Optional.
	Admission Admission
	Details   Details
	Inventory Inventory
	// Repositories serves /api/v1/repositories/{name} settings, Lifecycle
	// their lifecycle policies; optional.
	Repositories Repositories
	Lifecycle    Lifecycle
}

// Option configures New.
type Option func(*handler) error

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(h *handler) error {
		if l == nil {
			return errors.New("api: nil logger")
		}
		h.log = l
		return nil
	}
}

type handler struct {
	Config
	log *slog.Logger
	mux *http.ServeMux
}

// New returns the handler for everything under /api/v1/.
func New(c Config, opts ...Option) (http.Handler, error) {
	if c.Authorizer == nil {
		return nil, errors.New("api: New needs an authorizer")
	}
	if c.Identities != nil && (c.Policies == nil || c.Audit == nil || c.Engine == nil || c.Reload == nil) {
		return nil, errors.New("api: access control needs identities, policies, an audit log, an engine and a reload function")
	}
	h := &handler{Config: c, log: slog.Default(), mux: http.NewServeMux()}
	for _, o := range opts {
		if err := o(h); err != nil {
			return nil, err
		}
	}
	if h.Identities != nil {
		h.routes()
	}
	if h.Webhooks != nil {
		h.webhookRoutes()
	}
	if h.Signing != nil {
		h.signingRoutes()
	}
	if h.Admission != nil {
		h.admissionRoutes()
	}
	if h.Inventory != nil {
		h.inventoryRoutes()
	}
	h.scanRoutes()
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// maxBody bounds request bodies; the largest is a policy document.
const maxBody = 1 << 20

// op is one endpoint: the admin action it needs ("" when the handler
// checks for itself) and its function.
type op struct {
	action policy.Action
	fn     func(w http.ResponseWriter, r *http.Request) error
}

func (h *handler) handle(pattern string, o op) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		err := h.authorize(r.Context(), o.action)
		if err == nil {
			err = o.fn(w, r)
		}
		if err != nil {
			h.recordRefusal(r, o.action, err)
			h.writeError(w, r, err)
		}
	})
}

// recordRefusal audits a refused call (401 or 403), whether the endpoint's
// admin check or the handler's own refused it: the action that was
// needed, the path as the resource, the reason class.
func (h *handler) recordRefusal(r *http.Request, action policy.Action, err error) {
	var refusal audit.Refusal
	if !errors.As(err, &refusal) {
		return
	}
	details := map[string]any{"method": r.Method}
	var de *auth.DeniedError
	if errors.As(err, &de) {
		action = de.Action
		details["decision"] = de.Decision.String()
	}
	if action == "" {
		action = "api:Call"
	}
	h.record(r.Context(), string(action), r.URL.Path, details, err)
}

func (h *handler) authorize(ctx context.Context, a policy.Action) error {
	if a == "" {
		return nil
	}
	return h.Authorizer.Authorize(ctx, a, "")
}

// errBadRequest: the body or a parameter is malformed.
var errBadRequest = errors.New("bad request")

// errUnauthenticated: the endpoint needs a logged-in caller.
var errUnauthenticated = errors.New("authentication required")

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorKinds maps error kinds to codes and statuses, checked in order.
var errorKinds = []struct {
	err    error
	code   string
	status int
}{
	{errBadRequest, "INVALID", http.StatusBadRequest},
	{errUnauthenticated, "UNAUTHORIZED", http.StatusUnauthorized},
	{identity.ErrInvalid, "INVALID", http.StatusBadRequest},
	{identity.ErrNotFound, "NOT_FOUND", http.StatusNotFound},
	{identity.ErrExists, "EXISTS", http.StatusConflict},
	{policy.ErrInvalid, "INVALID", http.StatusBadRequest},
	{policystore.ErrInvalid, "INVALID", http.StatusBadRequest},
	{policystore.ErrNotFound, "NOT_FOUND", http.StatusNotFound},
	{policystore.ErrExists, "EXISTS", http.StatusConflict},
	{audit.ErrInvalid, "INVALID", http.StatusBadRequest},
	{errNoRoute, "NOT_FOUND", http.StatusNotFound},
	{scanning.ErrManagedByFile, "CONFLICT", http.StatusConflict},
	{scanning.ErrNotScanned, "NOT_SCANNED", http.StatusConflict},
	{scanning.ErrNotAnImage, "INVALID", http.StatusBadRequest},
	{scanrules.ErrInvalid, "INVALID", http.StatusBadRequest},
	{findings.ErrInvalid, "INVALID", http.StatusBadRequest},
	{registry.ErrNameInvalid, "INVALID", http.StatusBadRequest},
	{registry.ErrTagInvalid, "INVALID", http.StatusBadRequest},
	{registry.ErrManifestUnknown, "NOT_FOUND", http.StatusNotFound},
	{registry.ErrNameUnknown, "NOT_FOUND", http.StatusNotFound},
	{meta.ErrNotFound, "NOT_FOUND", http.StatusNotFound},
	{webhooks.ErrInvalid, "INVALID", http.StatusBadRequest},
	{webhooks.ErrNotFound, "NOT_FOUND", http.StatusNotFound},
	{webhooks.ErrExists, "EXISTS", http.StatusConflict},
	{webhooks.ErrManaged, "CONFLICT", http.StatusConflict},
	{keystore.ErrInvalid, "INVALID", http.StatusBadRequest},
	{keystore.ErrNotFound, "NOT_FOUND", http.StatusNotFound},
	{truststore.ErrInvalid, "INVALID", http.StatusBadRequest},
	{truststore.ErrNotFound, "NOT_FOUND", http.StatusNotFound},
	{truststore.ErrBuiltIn, "CONFLICT", http.StatusConflict},
	{signing.ErrNoTrustPolicy, "NOT_FOUND", http.StatusNotFound},
	{config.ErrInvalid, "INVALID", http.StatusBadRequest},
	{inventory.ErrInvalid, "INVALID", http.StatusBadRequest},
	{meta.ErrInvalid, "INVALID", http.StatusBadRequest},
	{lifecycle.ErrInvalid, "INVALID", http.StatusBadRequest},
	{expiry.ErrNoPolicy, "NOT_FOUND", http.StatusNotFound},
	{admission.ErrNoRuleStore, "CONFLICT", http.StatusConflict},
}

// writeError answers err. Refusals keep their reason to the log: it names
// policies. Internal errors are logged and not described.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var refusal interface{ Challenge() string }
	var tooBig *http.MaxBytesError
	var throttled *identity.ThrottledError
	e, status := apiError{Code: "INTERNAL", Message: "internal error"}, http.StatusInternalServerError
	switch {
	case errors.As(err, &throttled):
		// Password hashing refused the work at once (too much pending).
		w.Header().Set("Retry-After", auth.RetryAfterSeconds(throttled.RetryAfter()))
		e, status = apiError{"TOOMANYREQUESTS", "too many requests; retry later"}, http.StatusTooManyRequests
	case errors.As(err, &refusal):
		if ch := refusal.Challenge(); ch != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="moat"`)
			e, status = apiError{"UNAUTHORIZED", "authentication required"}, http.StatusUnauthorized
		} else {
			e, status = apiError{"DENIED", "requested access to the resource is denied"}, http.StatusForbidden
			var hinted interface{ Hint() string }
			if errors.As(err, &hinted) && hinted.Hint() != "" {
				e.Message += ": " + hinted.Hint()
			}
		}
	case errors.As(err, &tooBig):
		e, status = apiError{"INVALID", fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit)}, http.StatusRequestEntityTooLarge
	default:
		found := false
		for _, k := range errorKinds {
			if errors.Is(err, k.err) {
				e, status, found = apiError{k.code, err.Error()}, k.status, true
				break
			}
		}
		if !found {
			h.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	writeJSON(w, status, map[string]apiError{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body into v, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("%w: JSON body: %v", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON body", errBadRequest)
	}
	return nil
}

// caller names the request's caller for the audit log.
func caller(ctx context.Context) (actor, sourceIP string) {
	c, ok := auth.CallerFrom(ctx)
	actor = string(policy.Anonymous)
	if ok {
		actor = c.Principal.String()
	}
	if ok && c.Context.SourceIP.IsValid() {
		sourceIP = c.Context.SourceIP.String()
	}
	return actor, sourceIP
}

// record appends a management change (or refusal) to the audit log with
// its outcome. A failed append is logged; the change itself is already
// made.
func (h *handler) record(ctx context.Context, action, resource string, details map[string]any, err error) {
	actor, ip := caller(ctx)
	if h.Audit == nil {
		return // access control is off: there is no audit log
	}
	op := audit.Op{Actor: actor, Action: action, Resource: resource, SourceIP: ip, Details: details, Err: err}
	if aerr := h.Audit.Record(ctx, op); aerr != nil {
		h.log.ErrorContext(ctx, "audit management change", "action", action, "err", aerr)
	}
}
