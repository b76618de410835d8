package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
)

// Identities is what the Guard needs from the identity service.
type Identities interface {
	Authenticate(ctx context.Context, username, password string) (identity.Principal, error)
	Lookup(ctx context.Context, subject string) (identity.Principal, error)
}

// EngineHolder holds the current policy engine; Store swaps it atomically.
type EngineHolder struct{ p atomic.Pointer[policy.Engine] }

// Load returns the current engine (nil before the first Store).
func (h *EngineHolder) Load() *policy.Engine { return h.p.Load() }

// Store makes e the current engine.
func (h *EngineHolder) Store(e *policy.Engine) { h.p.Store(e) }

// Caller is the identified caller of one request.
type Caller struct {
	Principal policy.Principal
	// Claims are the bearer token's, nil for anonymous and Basic callers.
	Claims  *token.Claims
	Context policy.Context
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller in ctx, if any.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok
}

// Guard identifies and authorizes callers.
type Guard struct {
	ids        Identities
	issuer     *token.Issuer
	engine     *EngineHolder
	service    string
	realm      string
	allowBasic bool
	now        func() time.Time
	log        *slog.Logger

	lookupTTL time.Duration
	mu        sync.Mutex
	lookups   map[string]lookup

	// verified remembers access tokens whose signature checked out, by
	// SHA-256, until they expire: an ES256 verification costs tens of
	// microseconds, and a client sends the same token on every request.
	vmu      sync.Mutex
	verified map[[sha256.Size]byte]*token.Claims

	// listenerFrom finds the listener a request came through; realms
	// holds per-listener token endpoints; certIdentity the listeners
	// where a client certificate may log in.
	listenerFrom func(context.Context) (string, bool)
	realms       map[string]string
	certIdentity map[string]bool
	// loginObserver hears of Basic and certificate logins; loginSeen
	// keeps a login out of it while reported recently (login -> until
	// when).
	loginObserver func(context.Context, Login)
	lmu           sync.Mutex
	loginSeen     map[loginSeenKey]time.Time
	// refusalObserver hears of every request Middleware answers 401.
	refusalObserver func(context.Context, Refusal)
}

type lookup struct {
	p       policy.Principal
	expires time.Time
}

// maxLookups bounds the subject cache and maxVerified the token cache;
// when full they are cleared.
const (
	maxLookups  = 10000
	maxVerified = 10000
)

// Option configures NewGuard.
type Option func(*Guard) error

// WithoutBasic refuses Basic credentials on /v2/, leaving only bearer
// tokens. Default: Basic is accepted, for simple clients.
func WithoutBasic() Option {
	return func(g *Guard) error { g.allowBasic = false; return nil }
}

// WithClock sets the clock for time conditions. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(g *Guard) error {
		if now == nil {
			return errors.New("nil clock")
		}
		g.now = now
		return nil
	}
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(g *Guard) error {
		if l == nil {
			return errors.New("nil logger")
		}
		g.log = l
		return nil
	}
}

// WithLookupTTL sets how long a bearer subject's account state and groups
// are reused. Default: 5 seconds; 0 looks up on every request.
func WithLookupTTL(d time.Duration) Option {
	return func(g *Guard) error {
		if d < 0 || d > time.Minute {
			return fmt.Errorf("lookup TTL %v outside 0..1m", d)
		}
		g.lookupTTL = d
		return nil
	}
}

// WithListenerFrom sets how a request's listener is found: from, given
// the request context, returns its name or false. Without one, or when
// from returns false, the listener passed to Middleware, Identify or
// RequestContext is used. Default: none.
func WithListenerFrom(from func(context.Context) (string, bool)) Option {
	return func(g *Guard) error {
		if from == nil {
			return errors.New("nil listener function")
		}
		g.listenerFrom = from
		return nil
	}
}

// WithListenerRealm sends clients of listener to realm (an absolute URL)
// for tokens, instead of the realm given to NewGuard. Default: the one
// realm for every listener.
func WithListenerRealm(listener, realm string) Option {
	return func(g *Guard) error {
		if listener == "" || realm == "" {
			return errors.New("listener realm needs a listener and a realm")
		}
		g.realms[listener] = realm
		return nil
	}
}

// WithClientCertIdentity lets a verified TLS client certificate identify
// the caller on the named listeners, for requests without an
// Authorization header: its subject common name names the user, or the
// robot NAME for "robot+NAME". The account must exist and be enabled;
// otherwise the request is refused as unauthenticated. Default: off, so
// client certificates only feed the moat:ClientCertSubject condition.
func WithClientCertIdentity(listeners ...string) Option {
	return func(g *Guard) error {
		for _, l := range listeners {
			if l == "" {
				return errors.New("client certificate identity: empty listener name")
			}
			g.certIdentity[l] = true
		}
		return nil
	}
}

// WithLoginObserver calls fn for logins with Basic credentials or a
// client certificate (see WithClientCertIdentity), successful or not, for
// the audit log. The same login is reported once per
// LoginReportInterval, not on every request. Default: none.
func WithLoginObserver(fn func(context.Context, Login)) Option {
	return func(g *Guard) error {
		if fn == nil {
			return errors.New("nil login observer")
		}
		g.loginObserver = fn
		return nil
	}
}

// NewGuard returns a Guard for the registry named service whose token
// endpoint is realm (an absolute URL).
func NewGuard(ids Identities, issuer *token.Issuer, engine *EngineHolder, service, realm string, opts ...Option) (*Guard, error) {
	if ids == nil || issuer == nil || engine == nil || service == "" || realm == "" {
		return nil, errors.New("auth: NewGuard needs identities, an issuer, an engine holder, a service and a realm")
	}
	g := &Guard{ids: ids, issuer: issuer, engine: engine, service: service, realm: realm, allowBasic: true,
		now: time.Now, log: slog.Default(), lookupTTL: 5 * time.Second, lookups: map[string]lookup{},
		verified: map[[sha256.Size]byte]*token.Claims{}, realms: map[string]string{}, certIdentity: map[string]bool{},
		loginSeen: map[loginSeenKey]time.Time{}}
	for _, o := range opts {
		if err := o(g); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	return g, nil
}

// ErrUnauthenticated: the request carried credentials that are wrong,
// expired or revoked.
var ErrUnauthenticated = errors.New("authentication required")

// Identify resolves the request's credentials. No Authorization header
// is the anonymous caller, or the client certificate's account where
// WithClientCertIdentity allows it; bad credentials are
// ErrUnauthenticated. listener is the request's listener unless
// WithListenerFrom finds another.
func (g *Guard) Identify(r *http.Request, listener string) (*Caller, error) {
	listener = g.listenerOf(r.Context(), listener)
	c := &Caller{Principal: policy.Principal{Type: policy.Anonymous}, Context: requestContext(r, listener, g.now())}
	h := r.Header.Get("Authorization")
	if h == "" {
		if cert := verifiedClientCert(r); cert != nil && g.certIdentity[listener] {
			return g.identifyCert(r.Context(), c, cert)
		}
		return c, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		claims, err := g.verifyAccess(strings.TrimSpace(cred))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
		p, err := g.lookup(r.Context(), claims.Subject)
		if err != nil {
			return nil, err
		}
		c.Principal, c.Claims = p, claims
	case strings.EqualFold(scheme, "Basic") && g.allowBasic:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, fmt.Errorf("%w: malformed Basic credentials", ErrUnauthenticated)
		}
		p, err := g.ids.Authenticate(r.Context(), user, pass)
		if errors.Is(err, identity.ErrUnauthenticated) {
			err = fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
		l := Login{Method: LoginBasic, Name: user, Listener: listener, SourceIP: c.Context.SourceIP, Err: err}
		if err == nil {
			l.Subject = p.Subject()
		}
		g.reportLogin(r.Context(), sha256.Sum256([]byte(user)), l)
		if err != nil {
			return nil, err
		}
		c.Principal = p.Principal
	default:
		return nil, fmt.Errorf("%w: unsupported authorization scheme %q", ErrUnauthenticated, scheme)
	}
	return c, nil
}

// verifyAccess verifies an access token for this registry, or finds it
// verified before and not yet expired.
func (g *Guard) verifyAccess(tok string) (*token.Claims, error) {
	k := sha256.Sum256([]byte(tok))
	now := g.now()
	g.vmu.Lock()
	c, ok := g.verified[k]
	g.vmu.Unlock()
	if ok && c.ExpiresAt != nil && now.Before(c.ExpiresAt.Time) {
		return c, nil
	}
	c, err := g.issuer.VerifyAccess(tok, g.service)
	if err != nil {
		return nil, err
	}
	g.vmu.Lock()
	if len(g.verified) >= maxVerified {
		clear(g.verified)
	}
	g.verified[k] = c
	g.vmu.Unlock()
	return c, nil
}

func (g *Guard) lookup(ctx context.Context, subject string) (policy.Principal, error) {
	now := g.now()
	if subject == "" {
		// Tokens issued to anonymous callers.
		return policy.Principal{Type: policy.Anonymous}, nil
	}
	g.mu.Lock()
	l, ok := g.lookups[subject]
	g.mu.Unlock()
	if ok && now.Before(l.expires) {
		return l.p, nil
	}
	p, err := g.ids.Lookup(ctx, subject)
	if errors.Is(err, identity.ErrUnauthenticated) {
		return policy.Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if err != nil {
		return policy.Principal{}, err
	}
	if g.lookupTTL > 0 {
		g.mu.Lock()
		if len(g.lookups) >= maxLookups {
			clear(g.lookups)
		}
		g.lookups[subject] = lookup{p: p.Principal, expires: now.Add(g.lookupTTL)}
		g.mu.Unlock()
	}
	return p.Principal, nil
}

func (g *Guard) listenerOf(ctx context.Context, def string) string {
	if g.listenerFrom != nil {
		if n, ok := g.listenerFrom(ctx); ok {
			return n
		}
	}
	return def
}

func (g *Guard) realmFor(listener string) string {
	if r, ok := g.realms[listener]; ok {
		return r
	}
	return g.realm
}

// requestContext gathers what policy conditions look at.
func requestContext(r *http.Request, listener string, now time.Time) policy.Context {
	pc := policy.Context{Time: now, Listener: listener}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		pc.SourceIP = ap.Addr().Unmap()
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			pc.SourceIP = a.Unmap()
		}
	}
	if cert := verifiedClientCert(r); cert != nil {
		pc.ClientCertSubject = cert.Subject.String()
	}
	return pc
}

// DeniedError is a refused request. Challenge is non-empty when the
// client should (re)authenticate: answer 401 UNAUTHORIZED with it as
// WWW-Authenticate. Otherwise answer 403 DENIED.
type DeniedError struct {
	Action    policy.Action
	Resource  string
	Decision  policy.Decision
	challenge string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%s on %s: %s", e.Action, e.Resource, e.Decision)
}

// Challenge returns the WWW-Authenticate value, or "" for a plain denial.
func (e *DeniedError) Challenge() string { return e.challenge }

// protocolScope maps a policy action on a repository (or the catalog) to
// the token scope that grants it.
func protocolScope(a policy.Action, repo string) (token.Scope, bool) {
	if a == policy.ActionListRepositories {
		// Listing the catalog and each entry in it needs the catalog scope.
		return token.Scope{Type: token.TypeRegistry, Name: token.CatalogName, Actions: []string{"*"}}, true
	}
	act := map[policy.Action]string{
		policy.ActionPull:     "pull",
		policy.ActionListTags: "pull",
		policy.ActionPush:     "push",
		policy.ActionDelete:   "delete",
	}[a]
	if act == "" || repo == "" {
		return token.Scope{}, false
	}
	return token.Scope{Type: token.TypeRepository, Name: repo, Actions: []string{act}}, true
}

// Authorize decides whether the caller in ctx may perform action on repo
// (a repository name; "" for registry-wide actions such as listing the
// catalog). It returns nil or a *DeniedError. Without a caller in ctx it
// denies.
//
// A bearer token must grant the matching scope (pull for Pull and
// ListTags, push, delete; registry:catalog:* for ListRepositories, both
// for the catalog as a whole and for each entry shown) and the
// policy must allow the action now, from this address and listener: a
// token obtained elsewhere gains nothing a listener policy forbids.
func (g *Guard) Authorize(ctx context.Context, action policy.Action, repo string) error {
	c, ok := CallerFrom(ctx)
	if !ok {
		return &DeniedError{Action: action, Resource: repo, Decision: policy.Decision{Reason: policy.ImplicitDeny, Statement: -1}}
	}
	resource := policy.RegistryResource
	if repo != "" {
		resource = policy.RepositoryResource(repo)
	}
	scope, hasScope := protocolScope(action, repo)
	deny := func(d policy.Decision, challenge bool, errCode string) error {
		e := &DeniedError{Action: action, Resource: resource, Decision: d}
		if challenge {
			var scopes []token.Scope
			if hasScope {
				scopes = []token.Scope{scope}
			}
			e.challenge = token.BearerChallenge(g.realmFor(c.Context.Listener), g.service, scopes, errCode)
		}
		return e
	}
	if c.Claims != nil && (!hasScope || !c.Claims.Allows(scope.Type, scope.Name, scope.Actions[0])) {
		return deny(policy.Decision{Reason: "token does not grant " + policy.Reason(scope.String()), Statement: -1}, true, "insufficient_scope")
	}
	e := g.engine.Load()
	if e == nil {
		return deny(policy.Decision{Reason: policy.ImplicitDeny, Statement: -1}, false, "")
	}
	req := policy.Request{Principal: c.Principal, Action: action, Resource: resource, Context: c.Context}
	var d policy.Decision
	if action == policy.ActionListRepositories && repo == "" {
		d = e.DecideAny(req)
	} else {
		d = e.Decide(req)
	}
	if d.Allowed {
		return nil
	}
	// An anonymous caller may be allowed after logging in.
	return deny(d, c.Principal.Type == policy.Anonymous && c.Claims == nil, "")
}

// Allowed is Authorize as a boolean, for filtering lists (catalog
// entries, tags, referrers) without building errors.
func (g *Guard) Allowed(ctx context.Context, action policy.Action, repo string) bool {
	return g.Authorize(ctx, action, repo) == nil
}

// Middleware identifies the caller of every request, stores it in the
// request context and calls next. Bad credentials are answered here with
// 401 and a challenge. The API base (GET /v2/) needs an authenticated
// caller, which is how clients discover where to log in.
//
// listener names the listener unless WithListenerFrom finds the request's.
func (g *Guard) Middleware(listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		listener := g.listenerOf(r.Context(), listener)
		c, err := g.Identify(r, listener)
		if err != nil {
			if !errors.Is(err, ErrUnauthenticated) {
				g.log.ErrorContext(r.Context(), "identify caller", "err", err)
				writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal error", "")
				return
			}
			g.log.InfoContext(r.Context(), "authentication failed", "remote", r.RemoteAddr, "err", err)
			g.reportRefusal(r, listener, err)
			code := ""
			if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
				code = "invalid_token" // RFC 6750: the client should fetch a new token
			}
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required", g.challenge(listener, code))
			return
		}
		if (r.URL.Path == "/v2/" || r.URL.Path == "/v2") && c.Principal.Type == policy.Anonymous && c.Claims == nil {
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required", g.challenge(listener, ""))
			return
		}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}

func (g *Guard) challenge(listener, errCode string) string {
	return token.BearerChallenge(g.realmFor(listener), g.service, nil, errCode)
}

// WriteDenied answers a *DeniedError in the distribution spec's error
// format: 401 UNAUTHORIZED with its challenge, or 403 DENIED.
func WriteDenied(w http.ResponseWriter, e *DeniedError) {
	if ch := e.Challenge(); ch != "" {
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required", ch)
		return
	}
	writeError(w, http.StatusForbidden, "DENIED", "requested access to the resource is denied", "")
}

func writeError(w http.ResponseWriter, status int, code, msg, challenge string) {
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// AuthorizeMount decides whether a cross-repository mount into target
// (whose push the caller was already authorized for) may link a blob
// from the repository from. It returns true when the caller may pull
// from. When the caller's bearer token lacks pull on from but the policy
// would allow it, it returns a *DeniedError whose challenge asks for a
// token covering both repositories, so a client that did not ask for the
// source's scope up front can fetch one and retry. Otherwise it returns
// false and no error: the caller gets a plain upload session, and learns
// nothing about from.
func (g *Guard) AuthorizeMount(ctx context.Context, target, from string) (bool, error) {
	err := g.Authorize(ctx, policy.ActionPull, from)
	if err == nil {
		return true, nil
	}
	var de *DeniedError
	if !errors.As(err, &de) {
		return false, err
	}
	c, ok := CallerFrom(ctx)
	e := g.engine.Load()
	if !ok || c.Claims == nil || e == nil {
		return false, nil
	}
	d := e.Decide(policy.Request{Principal: c.Principal, Action: policy.ActionPull, Resource: policy.RepositoryResource(from), Context: c.Context})
	if !d.Allowed {
		return false, nil
	}
	scopes := []token.Scope{
		{Type: token.TypeRepository, Name: target, Actions: []string{"pull", "push"}},
		{Type: token.TypeRepository, Name: from, Actions: []string{"pull"}},
	}
	return false, &DeniedError{Action: policy.ActionPull, Resource: policy.RepositoryResource(from), Decision: policy.Decision{
		Reason: "token does not grant " + policy.Reason(scopes[1].String()), Statement: -1},
		challenge: token.BearerChallenge(g.realmFor(c.Context.Listener), g.service, scopes, "insufficient_scope")}
}
