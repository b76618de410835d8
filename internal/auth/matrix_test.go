package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/identitytest"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
)

const (
	service = "reg.test"
	realm   = "https://reg.test/auth/token"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world is a registry's access-control state: real identity service,
// issuer, policy engine and guard over an in-memory identity store.
type world struct {
	clock   *clock
	ids     *identity.Service
	issuer  *token.Issuer
	engine  *auth.EngineHolder
	guard   *auth.Guard
	tokens  *token.Server
	secrets map[string]string // login name -> password or secret
}

var policies = map[string]string{
	"team-a": `[
		{"Sid":"TeamARw","Effect":"Allow","Action":["registry:Pull","registry:Push","registry:ListTags"],"Resource":"repository/team-a/*"},
		{"Sid":"ProdReadOnly","Effect":"Deny","Action":"registry:Push","Resource":"repository/team-a/prod"}]`,
	"team-b":   `[{"Sid":"TeamBAll","Effect":"Allow","Action":"registry:*","Resource":"repository/team-b/*"}]`,
	"auditors": `[{"Sid":"Read","Effect":"Allow","Action":["registry:Pull","registry:ListTags"],"Resource":"repository/*"},{"Sid":"NoWrite","Effect":"Deny","Action":"registry:Push","Resource":"*"}]`,
	"admins":   `[{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}]`,
	"ci-a":     `[{"Sid":"CiPushA","Effect":"Allow","Action":["registry:Pull","registry:Push"],"Resource":["repository/team-a/*"]}]`,
	"mallory":  `[{"Sid":"NoSecrets","Effect":"Deny","Action":"*","Resource":"repository/team-a/secret/*"}]`,
	"erin":     `[{"Sid":"Office","Effect":"Allow","Action":"registry:Pull","Resource":"repository/team-a/app","Condition":{"IpAddress":{"moat:SourceIp":["10.0.0.0/8"]}}}]`,
}

var attachments = map[string][]policy.PrincipalRef{
	"team-a":   {{Type: policy.Group, Name: "team-a"}},
	"team-b":   {{Type: policy.Group, Name: "team-b"}},
	"auditors": {{Type: policy.Group, Name: "auditors"}},
	"admins":   {{Type: policy.Group, Name: identity.AdminGroup}},
	"ci-a":     {{Type: policy.Robot, Name: "ci-a"}},
	"mallory":  {{Type: policy.User, Name: "mallory"}},
	"erin":     {{Type: policy.User, Name: "erin"}},
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)}
	ids, err := identity.NewService(identitytest.NewMemStore(), identity.WithClock(c.now),
		identity.WithArgon2(identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{clock: c, ids: ids, secrets: map[string]string{}}
	users := map[string][]string{
		"alice": {"team-a"}, "bob": {"team-b"}, "carol": {"team-a", "team-b"}, "dave": {"auditors"},
		"erin": nil, "root": {identity.AdminGroup}, "mallory": {"team-a"},
	}
	for _, g := range []string{"team-a", "team-b", "auditors", identity.AdminGroup} {
		if _, err := ids.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	for u, gs := range users {
		pw := "pw-" + u + "-123"
		if _, err := ids.CreateUser(ctx, u, pw); err != nil {
			t.Fatal(err)
		}
		w.secrets[u] = pw
		for _, g := range gs {
			if err := ids.AddMember(ctx, g, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range []string{"ci-a", "ci-b"} {
		_, secret, err := ids.CreateRobot(ctx, r, identity.RobotOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.secrets[identity.RobotUserPrefix+r] = secret
	}

	var set policy.Set
	for name, stmts := range policies {
		p, err := policy.Parse(policy.Identity, name, []byte(`{"Version":"2026-01-01","Statement":`+stmts+`}`))
		if err != nil {
			t.Fatal(err)
		}
		set.Identity = append(set.Identity, policy.Attachment{Policy: p, To: attachments[name]})
	}
	pub, err := policy.Parse(policy.Resource, "public-base", []byte(`{"Version":"2026-01-01","Statement":[
		{"Sid":"Public","Effect":"Allow","Principal":"*","Action":["registry:Pull","registry:ListTags"],"Resource":"repository/library/base"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	set.Repositories = map[string][]*policy.Policy{"library/base": {pub}}
	lp, err := policy.Parse(policy.Listener, "private-endpoint", []byte(`{"Version":"2026-01-01","Statement":[
		{"Sid":"FromVpc","Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":"10.0.0.0/8"}}},
		{"Sid":"NoDelete","Effect":"Deny","Action":"registry:Delete","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	set.Listeners = map[string]*policy.Policy{"private": lp}
	e, err := policy.Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	w.engine = &auth.EngineHolder{}
	w.engine.Store(e)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if w.issuer, err = token.NewIssuer(key, "moat", token.WithClock(c.now)); err != nil {
		t.Fatal(err)
	}
	if w.guard, err = auth.NewGuard(ids, w.issuer, w.engine, service, realm, auth.WithClock(c.now), auth.WithLookupTTL(0), auth.WithLogger(slog.New(slog.DiscardHandler))); err != nil {
		t.Fatal(err)
	}
	if w.tokens, err = token.NewServer(w.issuer, service, auth.TokenAuthenticator(ids), w.guard.TokenAllow()); err != nil {
		t.Fatal(err)
	}
	return w
}

// expect is the intent of the policies above, written out by hand: the
// oracle the engine is checked against.
func expect(who, repo string, a policy.Action, inside bool, listener string) bool {
	if listener == "private" && (!inside || a == policy.ActionDelete) {
		return false
	}
	groups := map[string][]string{
		"alice": {"team-a"}, "bob": {"team-b"}, "carol": {"team-a", "team-b"}, "dave": {"auditors"},
		"root": {"admins"}, "mallory": {"team-a"},
	}[who]
	in := func(g string) bool { return slices.Contains(groups, g) }
	teamA := strings.HasPrefix(repo, "team-a/")
	teamB := strings.HasPrefix(repo, "team-b/")
	read := a == policy.ActionPull || a == policy.ActionListTags

	// Explicit denies first.
	switch {
	case in("team-a") && a == policy.ActionPush && repo == "team-a/prod",
		in("auditors") && a == policy.ActionPush,
		who == "mallory" && strings.HasPrefix(repo, "team-a/secret/"):
		return false
	}
	switch {
	case in("admins"),
		in("team-a") && teamA && a != policy.ActionDelete,
		in("team-b") && teamB,
		in("auditors") && read,
		who == "robot:ci-a" && teamA && (a == policy.ActionPull || a == policy.ActionPush),
		who == "erin" && repo == "team-a/app" && a == policy.ActionPull && inside,
		repo == "library/base" && read:
		return true
	}
	return false
}

var (
	principals = []string{"anonymous", "alice", "bob", "carol", "dave", "erin", "root", "mallory", "robot:ci-a", "robot:ci-b"}
	repos      = []string{"team-a/app", "team-a/prod", "team-a/secret/key", "team-a", "team-ab/app", "team-b/app", "library/base", "other/x"}
	actions    = []policy.Action{policy.ActionPull, policy.ActionPush, policy.ActionDelete, policy.ActionListTags}
	places     = []struct {
		inside   bool
		listener string
	}{{true, ""}, {false, ""}, {true, "private"}, {false, "private"}}
)

func loginName(p string) string {
	if r, ok := strings.CutPrefix(p, "robot:"); ok {
		return identity.RobotUserPrefix + r
	}
	return p
}

func remoteAddr(inside bool) string {
	if inside {
		return "10.20.30.40:51000"
	}
	return "203.0.113.5:51000"
}

// identify runs the guard's middleware on a request and returns the
// context the handler would see, or the response it wrote instead.
func (w *world) identify(t *testing.T, listener, remote string, setAuth func(*http.Request)) (context.Context, *httptest.ResponseRecorder) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v2/x/manifests/latest", nil)
	req.RemoteAddr = remote
	if setAuth != nil {
		setAuth(req)
	}
	var got context.Context
	rec := httptest.NewRecorder()
	w.guard.Middleware(listener, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Context() })).ServeHTTP(rec, req)
	return got, rec
}

// identity logs login in with its password or secret and returns what a
// token issued to it carries.
func (w *world) identity(t testing.TB, login string) token.Identity {
	t.Helper()
	p, err := w.ids.Authenticate(context.Background(), login, w.secrets[login])
	if err != nil {
		t.Fatal(err)
	}
	return token.Identity{Subject: p.Subject(), Credential: p.Credential, AccountID: p.AccountID}
}

func (w *world) basic(p string) func(*http.Request) {
	if p == "anonymous" {
		return nil
	}
	return func(r *http.Request) { r.SetBasicAuth(loginName(p), w.secrets[loginName(p)]) }
}

// TestMatrixBasic: every principal × repository × action × place through
// the guard with Basic credentials (or none).
func TestMatrixBasic(t *testing.T) {
	w := newWorld(t)
	cases := 0
	for _, p := range principals {
		for _, pl := range places {
			ctx, rec := w.identify(t, pl.listener, remoteAddr(pl.inside), w.basic(p))
			if ctx == nil {
				t.Fatalf("%s: middleware refused: %d %s", p, rec.Code, rec.Body)
			}
			for _, repo := range repos {
				for _, a := range actions {
					cases++
					want := expect(p, repo, a, pl.inside, pl.listener)
					err := w.guard.Authorize(ctx, a, repo)
					if (err == nil) != want {
						t.Errorf("%s %s %s inside=%v listener=%q: allowed=%v want %v (%v)", p, a, repo, pl.inside, pl.listener, err == nil, want, err)
						continue
					}
					var de *auth.DeniedError
					if err != nil {
						if !errors.As(err, &de) {
							t.Fatalf("denial is %T", err)
						}
						// Anonymous callers are challenged to log in; known ones are refused.
						if (de.Challenge() != "") != (p == "anonymous") {
							t.Errorf("%s %s %s: challenge %q", p, a, repo, de.Challenge())
						}
						if p == "anonymous" && !strings.Contains(de.Challenge(), `scope="repository:`+repo+`:`) {
							t.Errorf("challenge lacks the scope: %s", de.Challenge())
						}
					}
				}
			}
		}
	}
	t.Logf("%d Basic/anonymous authorization cases", cases)
}

func actionName(a policy.Action) string {
	return map[policy.Action]string{policy.ActionPull: "pull", policy.ActionPush: "push", policy.ActionDelete: "delete"}[a]
}

// TestMatrixTokens: each principal asks the token server for
// pull,push,delete on every repository (an escalation attempt for most of
// them), from inside the private network. The grant must be exactly what
// policy allows; then the token is used through the guard from every
// place, where policy and token scope must both agree.
func TestMatrixTokens(t *testing.T) {
	w := newWorld(t)
	cases := 0
	for _, p := range principals {
		for _, repo := range repos {
			req := token.Request{Service: service, Scopes: []token.Scope{{Type: "repository", Name: repo, Actions: []string{"pull", "push", "delete"}}}}
			if p != "anonymous" {
				req.Username, req.Password = loginName(p), w.secrets[loginName(p)]
			}
			tokCtx := auth.WithCaller(context.Background(), &auth.Caller{Context: policy.Context{SourceIP: netip.MustParseAddr("10.1.1.1"), Time: w.clock.now()}})
			resp, err := w.tokens.Issue(tokCtx, req)
			if err != nil {
				t.Fatalf("%s %s: %v", p, repo, err)
			}
			var granted []string
			for _, acc := range resp.Granted {
				if acc.Name == repo {
					granted = acc.Actions
				}
			}
			var want []string
			for _, a := range []policy.Action{policy.ActionDelete, policy.ActionPull, policy.ActionPush} {
				if expect(p, repo, a, true, "") {
					want = append(want, actionName(a))
				}
			}
			cases++
			if !slices.Equal(granted, want) {
				t.Errorf("%s asked pull,push,delete on %s: granted %v, want %v", p, repo, granted, want)
			}
			bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+resp.Token) }
			for _, pl := range places {
				ctx, rec := w.identify(t, pl.listener, remoteAddr(pl.inside), bearer)
				if ctx == nil {
					t.Fatalf("%s: bearer refused: %d %s", p, rec.Code, rec.Body)
				}
				for _, a := range actions {
					cases++
					scopeName := actionName(a)
					if a == policy.ActionListTags {
						scopeName = "pull"
					}
					inToken := slices.Contains(granted, scopeName) || slices.Contains(granted, "*")
					wantOK := inToken && expect(p, repo, a, pl.inside, pl.listener)
					err := w.guard.Authorize(ctx, a, repo)
					if (err == nil) != wantOK {
						t.Errorf("%s bearer %s %s inside=%v listener=%q: allowed=%v want %v (%v)", p, a, repo, pl.inside, pl.listener, err == nil, wantOK, err)
					}
					// A token lacking the scope is challenged for a new
					// one only where that can help: the policy would allow
					// the action, or the caller may log in. Otherwise
					// the refusal is a plain 403.
					var de *auth.DeniedError
					wantChallenge := !inToken && (expect(p, repo, a, pl.inside, pl.listener) || p == "anonymous")
					if err != nil && errors.As(err, &de) && wantChallenge != strings.Contains(de.Challenge(), `error="insufficient_scope"`) {
						t.Errorf("%s %s %s inside=%v listener=%q: challenge %q, want one: %v", p, a, repo, pl.inside, pl.listener, de.Challenge(), wantChallenge)
					}
				}
			}
		}
	}
	t.Logf("%d token grant and bearer cases", cases)
}

// TestCredentialCases: the named cases of the access-control issue that
// are about credentials rather than policy.
func TestCredentialCases(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issue := func(user, pass, scope string) *token.Response {
		t.Helper()
		sc, err := token.ParseScopes(scope)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := w.tokens.Issue(ctx, token.Request{Service: service, Username: user, Password: pass, Scopes: sc})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	refused := func(name string, setAuth func(*http.Request)) {
		t.Helper()
		got, rec := w.identify(t, "", "10.0.0.1:1", setAuth)
		if got != nil || rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer realm=") ||
			!strings.Contains(rec.Body.String(), `"UNAUTHORIZED"`) {
			t.Errorf("%s: not refused with a challenge: %d %v %s", name, rec.Code, rec.Header(), rec.Body)
		}
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	good := issue("alice", w.secrets["alice"], "repository:team-a/app:pull,push")

	// A valid token works.
	if c, _ := w.identify(t, "", "10.0.0.1:1", bearer(good.Token)); c == nil || w.guard.Authorize(c, policy.ActionPush, "team-a/app") != nil {
		t.Fatal("valid token refused")
	}
	parts := strings.Split(good.Token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	enc := base64.RawURLEncoding.EncodeToString
	escalated := strings.Replace(string(payload), `"team-a/app"`, `"team-b/app"`, 1)
	refused("tampered payload", bearer(parts[0]+"."+enc([]byte(escalated))+"."+parts[2]))
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 0x80
	refused("tampered signature", bearer(parts[0]+"."+parts[1]+"."+enc(sig)))
	refused("alg none", bearer(enc([]byte(`{"alg":"none","typ":"JWT","kid":"`+w.issuer.KeyID()+`"}`))+"."+parts[1]+"."))
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "moat", "sub": "user:root", "aud": service, "exp": w.clock.now().Add(time.Hour).Unix(),
		"access": []map[string]any{{"type": "repository", "name": "team-b/app", "actions": []string{"*"}}}, "moat_use": "access"}).SignedString([]byte(w.issuer.KeyID()))
	refused("HS256 keyed with the public kid", bearer(hs))
	otherSvc, _, _ := w.issuer.IssueAccess(token.Identity{Subject: "user:alice", Credential: "password:1:fp", AccountID: 1}, "other.registry", []token.Access{{Type: "repository", Name: "team-a/app", Actions: []string{"pull"}}})
	refused("token for another service", bearer(otherSvc))
	refresh, _, _ := w.issuer.IssueRefresh(token.Identity{Subject: "user:alice", Credential: "password:1:x", AccountID: 1}, service)
	refused("refresh token as bearer", bearer(refresh))
	refused("wrong password", func(r *http.Request) { r.SetBasicAuth("alice", "nope") })
	refused("unknown scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") })

	// Scope escalation in the token request: asking is not getting.
	esc := issue("alice", w.secrets["alice"], "repository:team-b/app:pull,push repository:team-a/app:delete registry:catalog:*")
	if len(esc.Granted) != 0 {
		t.Errorf("escalation granted %v", esc.Granted)
	}
	c, _ := w.identify(t, "", "10.0.0.1:1", bearer(esc.Token))
	var de *auth.DeniedError
	// Policy refuses alice team-b: a new token cannot help, so 403.
	if err := w.guard.Authorize(c, policy.ActionPull, "team-b/app"); !errors.As(err, &de) || de.Challenge() != "" {
		t.Errorf("team-b with an empty token: %v", err)
	}
	// Policy allows alice team-a/app: a token with the scope would.
	if err := w.guard.Authorize(c, policy.ActionPull, "team-a/app"); !errors.As(err, &de) ||
		de.Challenge() != `Bearer realm="`+realm+`",service="`+service+`",scope="repository:team-a/app:pull",error="insufficient_scope"` {
		t.Errorf("team-a with an empty token: %v", err)
	}

	// Personal access tokens: valid, then revoked; and one that expires.
	pat, secret, err := w.ids.CreateAccessToken(ctx, "alice", identity.TokenOptions{Description: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	short, shortSecret, err := w.ids.CreateAccessToken(ctx, "alice", identity.TokenOptions{Description: "short", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_ = short
	patResp, err := w.tokens.Issue(ctx, token.Request{Service: service, Username: "alice", Password: secret, Offline: true})
	if err != nil || patResp.RefreshToken == "" {
		t.Fatalf("PAT login: %v", err)
	}
	if err := w.ids.RevokeAccessToken(ctx, "alice", pat.ID); err != nil {
		t.Fatal(err)
	}
	refused("revoked PAT as Basic password", func(r *http.Request) { r.SetBasicAuth("alice", secret) })
	if _, err := w.tokens.Issue(ctx, token.Request{Service: service, GrantType: token.GrantRefresh, ClientID: "cli", RefreshToken: patResp.RefreshToken}); !errors.Is(err, token.ErrUnauthorized) {
		t.Errorf("refresh with a revoked PAT: %v", err)
	}
	if _, err := w.tokens.Issue(ctx, token.Request{Service: service, Username: "alice", Password: secret}); !errors.Is(err, token.ErrUnauthorized) {
		t.Errorf("token request with a revoked PAT: %v", err)
	}

	// Robots: disabled, then expired; their tokens stop working too.
	robotTok := issue("robot+ci-a", w.secrets["robot+ci-a"], "repository:team-a/app:push")
	if err := w.ids.SetRobotDisabled(ctx, "ci-a", true); err != nil {
		t.Fatal(err)
	}
	refused("disabled robot", w.basic("robot:ci-a"))
	refused("disabled robot's bearer token", bearer(robotTok.Token))
	if err := w.ids.SetRobotDisabled(ctx, "ci-a", false); err != nil {
		t.Fatal(err)
	}
	_, expSecret, err := w.ids.CreateRobot(ctx, "ci-temp", identity.RobotOptions{ExpiresAt: w.clock.now().Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if c, rec := w.identify(t, "", "10.0.0.1:1", func(r *http.Request) { r.SetBasicAuth("robot+ci-temp", expSecret) }); c == nil {
		t.Fatalf("fresh robot refused: %d", rec.Code)
	}

	// Time passes: access tokens (5 min), the 1-hour PAT and the
	// 30-minute robot all expire.
	w.clock.add(61 * time.Minute)
	refused("expired access token", bearer(good.Token))
	if _, rec := w.identify(t, "", "10.0.0.1:1", bearer(good.Token)); !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("expired token challenge: %q", rec.Header().Get("WWW-Authenticate"))
	}
	refused("expired PAT", func(r *http.Request) { r.SetBasicAuth("alice", shortSecret) })
	refused("expired robot", func(r *http.Request) { r.SetBasicAuth("robot+ci-temp", expSecret) })

	// Anonymous callers are challenged at the API base.
	rec := httptest.NewRecorder()
	w.guard.Middleware("", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("anonymous caller passed the API base")
	})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/", nil))
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != `Bearer realm="`+realm+`",service="`+service+`"` {
		t.Errorf("anonymous at /v2/: %d %v", rec.Code, rec.Header())
	}
}
