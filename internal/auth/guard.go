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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
)

// Identities is what the Guard needs from the identity service;
// *identity.Service is one.
type Identities interface {
	Authenticate(ctx context.Context, username, password string) (identity.Principal, error)
	Lookup(ctx context.Context, subject string) (identity.Principal, error)
	// Revalidate checks a token's credential and account (see
	// identity.Service.Revalidate).
	Revalidate(ctx context.Context, subject string, accountID int64, credential string) (identity.Principal, error)
	// Epoch changes whenever identity state may have changed; what the
	// Guard caches is kept with the epoch it was read at.
	Epoch() uint64
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
	// AccountID is the account's immutable id and Credential what it
	// logged in with (identity.Principal.Credential; for a bearer token,
	// the credential the token was issued for), CredentialExpires when
	// that credential expires (zero: never). AccountID is 0 for anonymous
	// callers; Credential is empty for them and for client-certificate
	// logins, whose certificate is checked on every request instead.
	AccountID         int64
	Credential        string
	CredentialExpires time.Time
	// realm is the token endpoint to name in this request's challenges.
	realm string
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

	// lookups caches account lookups and token revalidations for
	// lookupTTL, each with the identity epoch it was read at, so a change
	// made anywhere (seen through Identities.Epoch) ends it at once.
	lookupTTL time.Duration
	mu        sync.Mutex
	lookups   map[string]lookup

	// verified remembers access tokens whose signature checked out, by
	// SHA-256, until they expire: an ES256 verification costs tens of
	// microseconds, and a client sends the same token on every request.
	// It holds no identity state: whether the token's credential and
	// account are still good is checked on every request (lookups).
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
	p       identity.Principal
	expires time.Time
	epoch   uint64
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

// WithLookupTTL sets how long a bearer token's account state, credential
// check and groups are reused while no identity changes (any change ends
// them at once). Default: 5 seconds; 0 looks up on every request.
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

// NewGuard returns a Guard for the registry named service. realm, if not
// empty, is the token endpoint (an absolute URL) named in challenges;
// empty means the endpoint on the scheme and host each client used
// (see WithListenerRealm for per-listener ones).
func NewGuard(ids Identities, issuer *token.Issuer, engine *EngineHolder, service, realm string, opts ...Option) (*Guard, error) {
	if ids == nil || issuer == nil || engine == nil || service == "" {
		return nil, errors.New("auth: NewGuard needs identities, an issuer, an engine holder and a service")
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
	c := &Caller{Principal: policy.Principal{Type: policy.Anonymous}, Context: requestContext(r, listener, g.now()), realm: g.realmFor(r, listener)}
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
		p, err := g.revalidate(r.Context(), claims)
		if err != nil {
			return nil, err
		}
		c.Principal, c.Claims = p.Principal, claims
		c.AccountID, c.Credential, c.CredentialExpires = p.AccountID, claims.Credential, p.ExpiresAt
	case strings.EqualFold(scheme, "Basic") && g.allowBasic:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, fmt.Errorf("%w: malformed Basic credentials", ErrUnauthenticated)
		}
		p, err := g.ids.Authenticate(identity.WithSource(r.Context(), c.Context.SourceIP), user, pass)
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
		c.AccountID, c.Credential, c.CredentialExpires = p.AccountID, p.Credential, p.ExpiresAt
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

// lookup resolves an account by subject, for client-certificate logins
// and token grants.
func (g *Guard) lookup(ctx context.Context, subject string) (identity.Principal, error) {
	if subject == "" {
		// Tokens issued to anonymous callers.
		return identity.Principal{Principal: policy.Principal{Type: policy.Anonymous}}, nil
	}
	return g.cachedLookup(ctx, "lookup\x00"+subject, func() (identity.Principal, error) { return g.ids.Lookup(ctx, subject) })
}

// revalidate checks that a bearer token's credential and account are
// still good: a revoked personal access token, a changed password, a
// rotated robot secret, a disabled, deleted or re-created account end
// every token issued for them.
func (g *Guard) revalidate(ctx context.Context, c *token.Claims) (identity.Principal, error) {
	if c.Subject == "" {
		return g.lookup(ctx, "")
	}
	key := "token\x00" + c.Subject + "\x00" + strconv.FormatInt(c.AccountID, 10) + "\x00" + c.Credential
	return g.cachedLookup(ctx, key, func() (identity.Principal, error) {
		return g.ids.Revalidate(ctx, c.Subject, c.AccountID, c.Credential)
	})
}

// cachedLookup returns what fn returns, remembered under key for the
// lookup TTL (never past the credential's expiry) while the identity
// epoch stays the same.
func (g *Guard) cachedLookup(ctx context.Context, key string, fn func() (identity.Principal, error)) (identity.Principal, error) {
	now := g.now()
	// Read before fn, so a change made while fn runs leaves its result
	// already stale.
	epoch := g.ids.Epoch()
	g.mu.Lock()
	l, ok := g.lookups[key]
	g.mu.Unlock()
	if ok && now.Before(l.expires) && l.epoch == epoch {
		return l.p, nil
	}
	p, err := fn()
	if errors.Is(err, identity.ErrUnauthenticated) {
		return identity.Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if err != nil {
		return identity.Principal{}, err
	}
	if g.lookupTTL > 0 {
		expires := now.Add(g.lookupTTL)
		if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(expires) {
			expires = p.ExpiresAt
		}
		g.mu.Lock()
		if len(g.lookups) >= maxLookups {
			clear(g.lookups)
		}
		g.lookups[key] = lookup{p: p, expires: expires, epoch: epoch}
		g.mu.Unlock()
	}
	return p, nil
}

func (g *Guard) listenerOf(ctx context.Context, def string) string {
	if g.listenerFrom != nil {
		if n, ok := g.listenerFrom(ctx); ok {
			return n
		}
	}
	return def
}

// realmFor is the token endpoint to send r's client to: the listener's
// configured realm, else the configured one, else /auth/token on the
// scheme and host the client used. Clients such as crane and oras
// refuse a realm on a loopback or private address they did not ask for,
// so a default naming the listen address (127.0.0.1 for a client that
// said localhost) fails them. The Host header is the client's own
// choice; only a well-formed host[:port] is echoed, and without one the
// address the connection arrived at stands in.
func (g *Guard) realmFor(r *http.Request, listener string) string {
	if realm, ok := g.realms[listener]; ok {
		return realm
	}
	if g.realm != "" {
		return g.realm
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	host := r.Host
	if !validHost(host) {
		host = "localhost"
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			host = a.String()
		}
	}
	return scheme + host + "/auth/token"
}

// validHost reports whether h is a plausible host[:port]: a DNS name, an
// IPv4 address or a bracketed IPv6 address, with an optional port.
func validHost(h string) bool {
	if h == "" || len(h) > 261 {
		return false
	}
	name := h
	if host, port, err := net.SplitHostPort(h); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return false
		}
		if strings.Contains(host, ":") {
			_, err := netip.ParseAddr(host)
			return err == nil
		}
		name = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		return err == nil && a.Is6()
	} else if strings.Contains(h, ":") {
		return false
	}
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
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
	hint      string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%s on %s: %s", e.Action, e.Resource, e.Decision)
}

// Challenge returns the WWW-Authenticate value, or "" for a plain denial.
func (e *DeniedError) Challenge() string { return e.challenge }

// Hint returns what the client may be told about the refusal beyond
// "denied", or "". The Decision is not for clients: it names policies.
func (e *DeniedError) Hint() string { return e.hint }

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
			e.challenge = token.BearerChallenge(c.realm, g.service, scopes, errCode)
		}
		return e
	}
	anonymous := c.Principal.Type == policy.Anonymous
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
	if c.Claims != nil && (!hasScope || !c.Claims.Allows(scope.Type, scope.Name, scope.Actions[0])) {
		// The token lacks the scope. Send the client back for a token
		// that has it only when that can help: the policy would allow the
		// action, or the caller is anonymous and may log in. Otherwise
		// the answer is 403 DENIED, which clients show as such, rather
		// than a 401 they report as "authentication required". Registry
		// tokens carry registry scopes only: no token grants the
		// management actions (hasScope false).
		if hasScope && (d.Allowed || anonymous) {
			return deny(policy.Decision{Reason: "token does not grant " + policy.Reason(scope.String()), Statement: -1}, true, "insufficient_scope")
		}
		if d.Allowed {
			d = policy.Decision{Reason: policy.Reason(action) + " is not granted to registry tokens", Statement: -1}
		}
		return deny(d, anonymous, "")
	}
	if d.Allowed {
		return nil
	}
	// An anonymous caller may be allowed after logging in; one holding a
	// token with the scope has been through the token flow already, and
	// a challenge would only send it round again.
	return deny(d, anonymous && c.Claims == nil, "")
}

// Allowed is Authorize as a boolean, for filtering lists (catalog
// entries, tags, referrers) without building errors.
func (g *Guard) Allowed(ctx context.Context, action policy.Action, repo string) bool {
	return g.Authorize(ctx, action, repo) == nil
}

// Exempt reports whether the policies grant the caller in ctx action on
// repo, whatever its bearer token's scopes: for exemptions that belong
// to the principal, not to one request (scan:BypassPullGate), which no
// token scope can name. Anonymous callers and a missing caller are never
// exempt.
func (g *Guard) Exempt(ctx context.Context, action policy.Action, repo string) bool {
	c, ok := CallerFrom(ctx)
	e := g.engine.Load()
	if !ok || e == nil || c.Principal.Type == policy.Anonymous {
		return false
	}
	return e.Decide(policy.Request{Principal: c.Principal, Action: action, Resource: policy.RepositoryResource(repo), Context: c.Context}).Allowed
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
		var throttled *identity.ThrottledError
		if errors.As(err, &throttled) {
			// Refused before the credentials were checked: neither a
			// challenge (they may be right) nor a server error.
			g.log.InfoContext(r.Context(), "login throttled", "remote", r.RemoteAddr, "err", err)
			w.Header().Set("Retry-After", RetryAfterSeconds(throttled.RetryAfter()))
			writeError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "too many failed logins; retry later", "")
			return
		}
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
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required", g.challenge(r, listener, code))
			return
		}
		if (r.URL.Path == "/v2/" || r.URL.Path == "/v2") && c.Principal.Type == policy.Anonymous && c.Claims == nil {
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required", g.challenge(r, listener, ""))
			return
		}
		// The source address goes along for the identity service: a
		// password hashed for this request (a user created through
		// /api/) counts against its share of the hashing workers.
		ctx := identity.WithSource(WithCaller(r.Context(), c), c.Context.SourceIP)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// RetryAfterSeconds formats a wait as a Retry-After value: whole
// seconds, rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}

func (g *Guard) challenge(r *http.Request, listener, errCode string) string {
	return token.BearerChallenge(g.realmFor(r, listener), g.service, nil, errCode)
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
		challenge: token.BearerChallenge(c.realm, g.service, scopes, "insufficient_scope")}
}
