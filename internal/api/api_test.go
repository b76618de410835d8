package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/api"
	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/sqlaudit"
	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/sqlidentity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/policystore"
	"github.com/moat-dev/moat/internal/auth/token"
	"github.com/moat-dev/moat/internal/sqldb"
)

type env struct {
	h        http.Handler
	ids      *identity.Service
	policies *policystore.Store
	reload   func(context.Context) (bool, error)
	tokens   *token.Server
	audit    *audit.Log
	pw       map[string]string
}

// newEnv builds the API over fresh stores; with adds collaborators.
func newEnv(t *testing.T, with ...func(*api.Config)) *env {
	t.Helper()
	ctx := context.Background()
	// Identities, policies and the audit log share one database, as in
	// moat serve: policies attach only to accounts that exist there.
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "moat.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	is, err := sqlidentity.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.NewService(is,
		identity.WithArgon2(identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.Bootstrap(ctx, "admin-password-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CreateUser(ctx, "alice", "alice-password-1"); err != nil {
		t.Fatal(err)
	}
	ps, err := policystore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Put(ctx, "admins", policy.Identity, []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := ps.Attach(ctx, "admins", policystore.Target{Type: policystore.TargetGroup, Name: identity.AdminGroup}); err != nil {
		t.Fatal(err)
	}
	as, err := sqlaudit.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.New(as)
	if err != nil {
		t.Fatal(err)
	}
	var holder auth.EngineHolder
	loader, err := auth.NewPolicyLoader(ps, &holder)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loader.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issuer, err := token.NewIssuer(key, "moat")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	guard, err := auth.NewGuard(ids, issuer, &holder, "moat", "http://x/auth/token", auth.WithLogger(quiet), auth.WithLookupTTL(0))
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Identities: ids, Policies: ps, Audit: log, Authorizer: guard, Engine: holder.Load, Reload: loader.Reload}
	for _, w := range with {
		w(&cfg)
	}
	h, err := api.New(cfg, api.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := token.NewServer(issuer, "moat", auth.TokenAuthenticator(ids), guard.TokenAllow())
	if err != nil {
		t.Fatal(err)
	}
	return &env{h: guard.Middleware("default", h), ids: ids, policies: ps, reload: loader.Reload, tokens: tokens, audit: log,
		pw: map[string]string{"admin": "admin-password-1", "alice": "alice-password-1"}}
}

// call sends a request as user ("" anonymous) and decodes a JSON answer into out.
func (e *env) call(t *testing.T, user, method, path string, body any, out any) int {
	t.Helper()
	var setAuth func(*http.Request)
	if user != "" {
		pw, ok := e.pw[user]
		if !ok {
			pw = user // a robot: the map holds "robot+NAME" -> secret
		}
		setAuth = func(r *http.Request) { r.SetBasicAuth(user, pw) }
	}
	return e.callWith(t, setAuth, method, path, body, out)
}

// callBearer sends a request with a bearer token.
func (e *env) callBearer(t *testing.T, tok, method, path string, body any, out any) int {
	t.Helper()
	return e.callWith(t, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, method, path, body, out)
}

func (e *env) callWith(t *testing.T, setAuth func(*http.Request), method, path string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	r := httptest.NewRequest(method, path, rd)
	r.RemoteAddr = "192.0.2.7:5555"
	if setAuth != nil {
		setAuth(r)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if out != nil && w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, w.Code, w.Body, err)
		}
	}
	return w.Code
}

func TestAdminOnly(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		user, method, path string
		want               int
	}{
		{"", "GET", "/api/v1/users", 401},
		{"alice", "GET", "/api/v1/users", 403},
		{"alice", "POST", "/api/v1/robots", 403},
		{"alice", "GET", "/api/v1/policies", 403},
		{"alice", "GET", "/api/v1/audit", 403},
		{"alice", "GET", "/api/v1/users/admin/tokens", 403},
		{"alice", "GET", "/api/v1/users/alice/tokens", 200},
		{"admin", "GET", "/api/v1/users", 200},
		{"admin", "GET", "/api/v1/groups", 200},
		{"admin", "GET", "/api/v1/robots", 200},
		{"admin", "GET", "/api/v1/policies", 200},
		{"admin", "GET", "/api/v1/audit", 200},
		{"admin", "GET", "/api/v1/users/alice/tokens", 200},
	} {
		var body struct {
			Error struct{ Code, Message string }
		}
		if got := e.call(t, tc.user, tc.method, tc.path, nil, &body); got != tc.want {
			t.Errorf("%s %s %s: %d, want %d (%+v)", tc.user, tc.method, tc.path, got, tc.want, body)
		}
		if tc.want == 403 && (body.Error.Code != "DENIED" || strings.Contains(body.Error.Message, "policy")) {
			t.Errorf("%s %s: error %+v", tc.method, tc.path, body.Error)
		}
	}
}

func TestRobotPolicySimulateAudit(t *testing.T) {
	e := newEnv(t)
	var robot struct{ Name, Username, Secret string }
	if got := e.call(t, "admin", "POST", "/api/v1/robots", map[string]any{"name": "ci-a", "description": "team-a CI"}, &robot); got != 201 {
		t.Fatalf("create robot: %d", got)
	}
	if robot.Username != "robot+ci-a" || !strings.HasPrefix(robot.Secret, "moat_rbt_") {
		t.Fatalf("robot %+v", robot)
	}
	if got := e.call(t, "admin", "POST", "/api/v1/robots", map[string]any{"name": "ci-a"}, nil); got != 409 {
		t.Errorf("duplicate robot: %d", got)
	}
	var list struct{ Robots []map[string]any }
	e.call(t, "admin", "GET", "/api/v1/robots", nil, &list)
	if len(list.Robots) != 1 || list.Robots[0]["secret"] != nil {
		t.Errorf("robot list %+v", list)
	}

	doc := json.RawMessage(`{"Version":"2026-01-01","Statement":[{"Sid":"TeamA","Effect":"Allow","Action":["registry:Pull","registry:Push"],"Resource":"repository/team-a/*"}]}`)
	if got := e.call(t, "admin", "PUT", "/api/v1/policies/team-a-ci", map[string]any{"kind": "identity", "document": doc}, nil); got != 204 {
		t.Fatalf("put policy: %d", got)
	}
	var perr struct {
		Error struct{ Code, Message string }
	}
	bad := json.RawMessage(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"registry:Pul","Resource":"*"}]}`)
	if got := e.call(t, "admin", "PUT", "/api/v1/policies/team-a-ci", map[string]any{"kind": "identity", "document": bad}, &perr); got != 400 || !strings.Contains(perr.Error.Message, "registry:Pul") {
		t.Errorf("malformed policy: %d %+v", got, perr)
	}
	if got := e.call(t, "admin", "PUT", "/api/v1/policies/team-a-ci/attachments/robot/ci-a", nil, nil); got != 204 {
		t.Fatalf("attach: %d", got)
	}
	if got := e.call(t, "admin", "PUT", "/api/v1/policies/team-a-ci/attachments/repository/team-a/app", nil, nil); got != 400 {
		t.Errorf("identity policy on a repository: %d", got)
	}
	var pols struct {
		Policies []struct {
			Name        string
			Document    json.RawMessage
			Attachments []struct{ Type, Name string }
		}
	}
	e.call(t, "admin", "GET", "/api/v1/policies", nil, &pols)
	found := false
	for _, p := range pols.Policies {
		if p.Name == "team-a-ci" {
			found = len(p.Attachments) == 1 && p.Attachments[0].Name == "ci-a" && bytes.Equal(p.Document, doc)
		}
	}
	if !found {
		t.Errorf("stored policy after a refused update: %+v", pols)
	}

	for _, tc := range []struct {
		resource, action string
		allowed          bool
		sid              string
	}{
		{"team-a/app", "registry:Push", true, "TeamA"},
		{"repository/team-a/x/y", "registry:Pull", true, "TeamA"},
		{"team-ab/app", "registry:Push", false, ""},
		{"team-b/app", "registry:Pull", false, ""},
		{"team-a/app", "registry:Delete", false, ""},
	} {
		var d api.SimulateResponse
		if got := e.call(t, "admin", "POST", "/api/v1/policies/simulate", api.SimulateRequest{Principal: "robot:ci-a", Action: tc.action, Resource: tc.resource}, &d); got != 200 {
			t.Fatalf("simulate: %d", got)
		}
		if d.Allowed != tc.allowed || d.Sid != tc.sid || (tc.allowed && d.Policy != "team-a-ci") {
			t.Errorf("simulate %s %s: %+v", tc.action, tc.resource, d)
		}
	}
	for _, in := range []api.SimulateRequest{
		{Principal: "robot:nobody", Action: "registry:Pull", Resource: "x"},
		{Principal: "group:admins", Action: "registry:Pull", Resource: "x"},
		{Principal: "robot:ci-a", Action: "registry:Fly", Resource: "x"},
		{Principal: "robot:ci-a", Action: "registry:Pull", Resource: "x", SourceIP: "not-an-ip"},
	} {
		if got := e.call(t, "admin", "POST", "/api/v1/policies/simulate", in, nil); got != 400 {
			t.Errorf("simulate %+v: %d", in, got)
		}
	}
	if got := e.call(t, "admin", "POST", "/api/v1/policies/simulate", `{"principal":"anonymous","bogus":1}`, nil); got != 400 {
		t.Errorf("unknown field: %d", got)
	}

	// Every change above is in the audit log, which verifies.
	var q struct {
		Records []struct {
			Actor, Action, Resource, Result string
			SourceIP                        string `json:"source_ip"`
		}
	}
	e.call(t, "admin", "GET", "/api/v1/audit?actor=user:admin&resource=policy/", nil, &q)
	var actions []string
	for _, r := range q.Records {
		actions = append(actions, r.Action+":"+r.Result)
		if r.SourceIP != "192.0.2.7" {
			t.Errorf("record %+v lacks the source address", r)
		}
	}
	if got := strings.Join(actions, " "); got != "admin:PutPolicy:success admin:PutPolicy:failure admin:AttachPolicy:success admin:AttachPolicy:failure" {
		t.Errorf("policy audit records: %s", got)
	}
	var v struct {
		OK      bool
		Records int
	}
	if e.call(t, "admin", "GET", "/api/v1/audit/verify", nil, &v); !v.OK || v.Records < 6 {
		t.Errorf("verify %+v", v)
	}
	if got := e.call(t, "admin", "GET", "/api/v1/audit?limit=0", nil, nil); got != 400 {
		t.Errorf("limit=0: %d", got)
	}
}

func TestOwnTokens(t *testing.T) {
	e := newEnv(t)
	var tok struct {
		ID     int64
		Secret string
	}
	if got := e.call(t, "alice", "POST", "/api/v1/users/alice/tokens", map[string]string{"ttl": "forever"}, nil); got != 400 {
		t.Errorf("bad ttl: %d", got)
	}
	if got := e.call(t, "alice", "POST", "/api/v1/users/alice/tokens", map[string]string{"description": "laptop", "ttl": "1h"}, &tok); got != 201 || tok.Secret == "" {
		t.Fatalf("mint: %d %+v", got, tok)
	}
	// The token is a password for alice.
	e.pw["alice"] = tok.Secret
	var list struct{ Tokens []map[string]any }
	if got := e.call(t, "alice", "GET", "/api/v1/users/alice/tokens", nil, &list); got != 200 || len(list.Tokens) != 1 || list.Tokens[0]["secret"] != nil {
		t.Fatalf("list with the token: %d %+v", got, list)
	}
	if got := e.call(t, "alice", "POST", "/api/v1/users/admin/tokens", map[string]string{}, nil); got != 403 {
		t.Errorf("minting for another user: %d", got)
	}
	if got := e.call(t, "alice", "DELETE", "/api/v1/users/alice/tokens/"+jsonNum(tok.ID), nil, nil); got != 204 {
		t.Fatalf("revoke: %d", got)
	}
	if got := e.call(t, "alice", "GET", "/api/v1/users/alice/tokens", nil, nil); got != 401 {
		t.Errorf("revoked token still logs in: %d", got)
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }
