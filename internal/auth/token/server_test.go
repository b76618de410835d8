package token

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/auth/policy"
)

// fakeAuthn stands in for the identity service: a fixed table of
// credentials and a revocation set.
type fakeAuthn struct {
	mu      sync.Mutex
	users   map[string]string // username -> password
	revoked map[string]bool   // credential -> revoked
}

func (f *fakeAuthn) Authenticate(_ context.Context, u, p string) (Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if want, ok := f.users[u]; !ok || want != p {
		return Identity{}, fmt.Errorf("user %q: %w", u, ErrUnauthorized)
	}
	return Identity{Subject: "user:" + u, Credential: "password:" + u, AccountID: int64(len(u))}, nil
}

func (f *fakeAuthn) Revalidate(_ context.Context, id Identity) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.revoked[id.Credential] {
		return fmt.Errorf("%s: %w", id.Credential, ErrUnauthorized)
	}
	return nil
}

// engineAllow answers with a real policy engine.
func engineAllow(t testing.TB, e *policy.Engine) AllowFunc {
	return func(_ context.Context, subject string, a policy.Action, res string) bool {
		p := policy.Principal{Type: policy.Anonymous}
		if typ, name, ok := strings.Cut(subject, ":"); ok {
			p = policy.Principal{Type: policy.PrincipalType(typ), Name: name}
		}
		r := policy.Request{Principal: p, Action: a, Resource: res}
		if res == "" {
			return e.DecideAny(r).Allowed
		}
		return e.Decide(r).Allowed
	}
}

func testEngine(t testing.TB) *policy.Engine {
	t.Helper()
	id, err := policy.Parse(policy.Identity, "team-a", []byte(`{"Version":"2026-01-01","Statement":[
		{"Effect":"Allow","Action":["registry:Pull","registry:Push","registry:ListRepositories"],"Resource":"repository/team-a/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := policy.Parse(policy.Resource, "public", []byte(`{"Version":"2026-01-01","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"registry:Pull","Resource":"repository/library/base"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(policy.Set{
		Identity:     []policy.Attachment{{Policy: id, To: []policy.PrincipalRef{{Type: policy.User, Name: "alice"}}}},
		Repositories: map[string][]*policy.Policy{"library/base": {pub}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type tokenEnv struct {
	srv    *httptest.Server
	iss    *Issuer
	authn  *fakeAuthn
	events []Event
	mu     sync.Mutex
}

func newTokenEnv(t *testing.T) *tokenEnv {
	env := &tokenEnv{authn: &fakeAuthn{users: map[string]string{"alice": "s3cret"}, revoked: map[string]bool{}}}
	iss, err := NewIssuer(newKey(t), "moat")
	if err != nil {
		t.Fatal(err)
	}
	env.iss = iss
	s, err := NewServer(iss, "reg.test", env.authn, engineAllow(t, testEngine(t)), WithObserver(func(_ context.Context, e Event) {
		env.mu.Lock()
		env.events = append(env.events, e)
		env.mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	env.srv = httptest.NewServer(s.Handler(nil))
	t.Cleanup(env.srv.Close)
	return env
}

func (env *tokenEnv) get(t *testing.T, query string, user, pass string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.srv.URL+"/auth/token?"+query, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return do(t, req)
}

func (env *tokenEnv) post(t *testing.T, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return resp, body
}

func (env *tokenEnv) access(t *testing.T, body map[string]any) []Access {
	t.Helper()
	tok, _ := body["token"].(string)
	if tok == "" || body["access_token"] != tok {
		t.Fatalf("no token in %v", body)
	}
	c, err := env.iss.VerifyAccess(tok, "reg.test")
	if err != nil {
		t.Fatal(err)
	}
	return c.Access
}

func accessString(as []Access) string {
	return FormatScopes(accessScopes(as))
}

func TestTokenEndpoint(t *testing.T) {
	env := newTokenEnv(t)
	q := func(scopes ...string) string {
		v := url.Values{"service": {"reg.test"}}
		for _, s := range scopes {
			v.Add("scope", s)
		}
		return v.Encode()
	}

	resp, body := env.get(t, q("repository:library/base:pull,push", "repository:team-a/app:pull"), "", "")
	if resp.StatusCode != 200 || accessString(env.access(t, body)) != "repository:library/base:pull" {
		t.Fatalf("anonymous: %d %v", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("token response may be cached")
	}

	// Escalation: alice asks for more than she has; she gets the intersection.
	_, body = env.get(t, q("repository:team-a/app:pull,push,delete", "repository:team-b/app:pull,push", "registry:catalog:*", "repository:team-a/x:*"), "alice", "s3cret")
	if got := accessString(env.access(t, body)); got != "repository:team-a/app:pull,push registry:catalog:* repository:team-a/x:pull,push" {
		t.Errorf("alice granted %q", got)
	}
	if body["expires_in"].(float64) != 300 || body["issued_at"] == "" {
		t.Errorf("expiry fields: %v", body)
	}
	if _, ok := body["refresh_token"]; ok {
		t.Error("refresh token without offline_token")
	}

	resp, body = env.get(t, q("repository:team-a/app:pull"), "alice", "wrong")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") || body["token"] != nil {
		t.Errorf("bad password: %d %v %v", resp.StatusCode, resp.Header, body)
	}
	resp, _ = env.get(t, "service=other.test&scope=repository:team-a/app:pull", "alice", "s3cret")
	if resp.StatusCode != 400 {
		t.Errorf("other service: %d", resp.StatusCode)
	}
	resp, _ = env.get(t, "service=reg.test&scope=repository:Team-A:pull", "alice", "s3cret")
	if resp.StatusCode != 400 {
		t.Errorf("bad scope: %d", resp.StatusCode)
	}
	resp, _ = env.get(t, "service=reg.test&account=bob", "alice", "s3cret")
	if resp.StatusCode != 400 {
		t.Errorf("account mismatch: %d", resp.StatusCode)
	}

	// GET offline_token gives a refresh token; the POST refresh grant
	// trades it for an access token until the credential is revoked.
	_, body = env.get(t, q("repository:team-a/app:pull")+"&offline_token=true", "alice", "s3cret")
	refresh, _ := body["refresh_token"].(string)
	if refresh == "" {
		t.Fatalf("no refresh token: %v", body)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "service": {"reg.test"}, "client_id": {"test"}, "refresh_token": {refresh}, "scope": {"repository:team-a/app:push repository:team-b/x:pull"}}
	resp, body = env.post(t, form)
	if resp.StatusCode != 200 || accessString(env.access(t, body)) != "repository:team-a/app:push" || body["scope"] != "repository:team-a/app:push" {
		t.Fatalf("refresh: %d %v", resp.StatusCode, body)
	}
	env.authn.mu.Lock()
	env.authn.revoked["password:alice"] = true
	env.authn.mu.Unlock()
	resp, body = env.post(t, form)
	if resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Errorf("revoked refresh: %d %v", resp.StatusCode, body)
	}
	env.authn.mu.Lock()
	env.authn.revoked = map[string]bool{}
	env.authn.mu.Unlock()
	form.Set("service", "other.test")
	if resp, body = env.post(t, form); resp.StatusCode != 400 || body["error"] != "invalid_request" {
		t.Errorf("refresh for another service: %d %v", resp.StatusCode, body)
	}
	form.Set("service", "reg.test")
	form.Set("refresh_token", body["error"].(string))
	if resp, body = env.post(t, form); resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Errorf("garbage refresh token: %d %v", resp.StatusCode, body)
	}
	// An access token is not a refresh token.
	_, body = env.get(t, q(), "alice", "s3cret")
	form.Set("refresh_token", body["token"].(string))
	if resp, body = env.post(t, form); resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Errorf("access token as refresh token: %d %v", resp.StatusCode, body)
	}

	pw := url.Values{"grant_type": {"password"}, "service": {"reg.test"}, "client_id": {"docker"}, "username": {"alice"}, "password": {"s3cret"}, "access_type": {"offline"}, "scope": {"repository:team-a/app:pull"}}
	resp, body = env.post(t, pw)
	if resp.StatusCode != 200 || body["refresh_token"] == nil || accessString(env.access(t, body)) != "repository:team-a/app:pull" {
		t.Fatalf("password grant: %d %v", resp.StatusCode, body)
	}
	for name, mutate := range map[string]func(url.Values){
		"no client_id":   func(v url.Values) { v.Del("client_id") },
		"wrong password": func(v url.Values) { v.Set("password", "x") },
		"unknown grant":  func(v url.Values) { v.Set("grant_type", "client_credentials") },
		"bad scope":      func(v url.Values) { v.Set("scope", "repository::pull") },
	} {
		v := url.Values{}
		for k, vs := range pw {
			v[k] = append([]string(nil), vs...)
		}
		mutate(v)
		resp, body := env.post(t, v)
		if resp.StatusCode != 400 || body["error"] == nil || body["access_token"] != nil {
			t.Errorf("%s: %d %v", name, resp.StatusCode, body)
		}
	}

	req, _ := http.NewRequest(http.MethodPut, env.srv.URL, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("PUT: %v %v", resp, err)
	}

	env.mu.Lock()
	defer env.mu.Unlock()
	if len(env.events) < 10 || env.events[0].Grant != "anonymous" || env.events[1].Subject != "user:alice" {
		t.Errorf("observer saw %d events: %+v", len(env.events), env.events[:min(2, len(env.events))])
	}
}

func TestNewServerNeedsParts(t *testing.T) {
	iss, _ := NewIssuer(newKey(t), "moat", WithAccessTTL(time.Minute))
	if _, err := NewServer(iss, "", &fakeAuthn{}, func(context.Context, string, policy.Action, string) bool { return true }); err == nil {
		t.Error("empty service accepted")
	}
	if _, err := NewServer(iss, "s", nil, nil); err == nil {
		t.Error("nil parts accepted")
	}
}
