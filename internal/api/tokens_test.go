package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/policystore"
	"github.com/moat-dev/moat/internal/auth/token"
)

type minted struct {
	ID        int64
	Secret    string
	ExpiresAt time.Time `json:"expires_at"`
}

type apiErr struct {
	Error struct{ Code, Message string }
}

// grant attaches an identity policy allowing actions to user.
func (e *env) grant(t *testing.T, user string, actions ...policy.Action) {
	t.Helper()
	ctx := context.Background()
	b, _ := json.Marshal(actions)
	name := user + "-grant"
	if err := e.policies.Put(ctx, name, policy.Identity, []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":`+string(b)+`,"Resource":"*"}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := e.policies.Attach(ctx, name, policystore.Target{Type: policystore.TargetUser, Name: user}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reload(ctx); err != nil {
		t.Fatal(err)
	}
}

// issue asks the token endpoint for a token as login.
func (e *env) issue(t *testing.T, r token.Request) *token.Response {
	t.Helper()
	r.Service = "moat"
	resp, err := e.tokens.Issue(auth.WithCaller(context.Background(), &auth.Caller{}), r)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestRegistryTokensCannotMintPATs (#10 finding 1): no registry bearer
// token from /auth/token — a pull-scoped one, one with an empty scope,
// one from the refresh grant, one from a personal access token — can
// mint a personal access token, whatever the policy grants.
func TestRegistryTokensCannotMintPATs(t *testing.T) {
	e := newEnv(t)
	if _, err := e.ids.CreateUser(context.Background(), "carol", "carol-password-1"); err != nil {
		t.Fatal(err)
	}
	e.pw["carol"] = "carol-password-1"
	// Even an explicit grant of every token action does not help a
	// bearer token: it carries registry scopes only.
	e.grant(t, "carol", policy.ActionPull, policy.ActionPush, policy.ActionManageTokens)
	sc, _ := token.ParseScopes("repository:team-a/app:pull")
	pull := e.issue(t, token.Request{Username: "carol", Password: "carol-password-1", Scopes: sc, Offline: true})
	empty := e.issue(t, token.Request{Username: "carol", Password: "carol-password-1"})
	refreshed := e.issue(t, token.Request{GrantType: token.GrantRefresh, ClientID: "t", RefreshToken: pull.RefreshToken, Scopes: sc})
	var pat minted
	if got := e.call(t, "carol", "POST", "/api/v1/users/carol/tokens", map[string]string{"ttl": "1h"}, &pat); got != 201 {
		t.Fatalf("password login mints: %d", got)
	}
	fromPAT := e.issue(t, token.Request{Username: "carol", Password: pat.Secret, Scopes: sc})
	for name, tok := range map[string]string{"pull-scoped": pull.Token, "empty scope": empty.Token, "refresh grant": refreshed.Token, "from a PAT": fromPAT.Token} {
		for _, ttl := range []string{"2160h", "1h", ""} {
			var body apiErr
			if got := e.callBearer(t, tok, "POST", "/api/v1/users/carol/tokens", map[string]string{"ttl": ttl}, &body); got != 403 || body.Error.Code != "DENIED" ||
				!strings.Contains(body.Error.Message, "password") {
				t.Errorf("%s bearer token mints a %q PAT: %d %+v", name, ttl, got, body)
			}
		}
		if got := e.callBearer(t, tok, "GET", "/api/v1/users/carol/tokens", nil, nil); got != 403 {
			t.Errorf("%s bearer token lists PATs: %d", name, got)
		}
		if got := e.callBearer(t, tok, "DELETE", "/api/v1/users/carol/tokens/"+jsonNum(pat.ID), nil, nil); got != 403 {
			t.Errorf("%s bearer token revokes a PAT: %d", name, got)
		}
	}
	// Nor does an administrator's bearer token reach the management API:
	// no registry scope grants it, so the refusal is 403, not a
	// challenge to fetch another token.
	adminTok := e.issue(t, token.Request{Username: "admin", Password: e.pw["admin"], Scopes: sc})
	if got := e.callBearer(t, adminTok.Token, "GET", "/api/v1/users", nil, nil); got != 403 {
		t.Errorf("admin bearer token lists users: %d", got)
	}
	if ts, _ := e.ids.AccessTokens(context.Background(), "carol"); len(ts) != 1 {
		t.Errorf("carol has %d tokens, want the one minted with her password", len(ts))
	}
}

// TestPATsCannotOutgrowTheirGrant (#10 finding 1): a personal access
// token mints another only with an explicit identity:ManageTokens grant,
// never one that outlives it; lifetimes are capped by configuration.
func TestPATsCannotOutgrowTheirGrant(t *testing.T) {
	e := newEnv(t)
	var parent minted
	if got := e.call(t, "alice", "POST", "/api/v1/users/alice/tokens", map[string]string{"ttl": "2h"}, &parent); got != 201 {
		t.Fatalf("mint with password: %d", got)
	}
	var body apiErr
	if got := e.call(t, "alice", "POST", "/api/v1/users/alice/tokens", map[string]string{"ttl": "2160h"}, &body); got != 400 ||
		!strings.Contains(body.Error.Message, "maximum") {
		t.Errorf("90-day token: %d %+v", got, body)
	}
	password := e.pw["alice"]
	e.pw["alice"] = parent.Secret
	if got := e.call(t, "alice", "POST", "/api/v1/users/alice/tokens", map[string]string{"ttl": "1h"}, &body); got != 403 ||
		!strings.Contains(body.Error.Message, "identity:ManageTokens") {
		t.Errorf("PAT mints a PAT without a grant: %d %+v", got, body)
	}
	// Listing and revoking one's own tokens needs no grant.
	if got := e.call(t, "alice", "GET", "/api/v1/users/alice/tokens", nil, nil); got != 200 {
		t.Errorf("PAT lists its user's tokens: %d", got)
	}

	e.grant(t, "alice", policy.ActionManageTokens)
	var child minted
	if got := e.call(t, "alice", "POST", "/api/v1/users/alice/tokens", map[string]string{"ttl": "1h"}, &child); got != 201 || child.ExpiresAt.After(parent.ExpiresAt) {
		t.Errorf("granted PAT mints a 1h PAT: %d %+v (parent expires %v)", got, child, parent.ExpiresAt)
	}
	if got := e.call(t, "alice", "POST", "/api/v1/users/alice/tokens", map[string]string{"ttl": "3h"}, &body); got != 400 || !strings.Contains(body.Error.Message, "outlive") {
		t.Errorf("PAT mints a PAT outliving it: %d %+v", got, body)
	}
	// The default lifetime (12h) is cut to the parent's.
	var def minted
	if got := e.call(t, "alice", "POST", "/api/v1/users/alice/tokens", map[string]string{}, &def); got != 201 || !def.ExpiresAt.Equal(parent.ExpiresAt) {
		t.Errorf("default-lifetime PAT from a PAT: %d expires %v, parent %v", got, def.ExpiresAt, parent.ExpiresAt)
	}
	// Not for other users, which needs admin:ManageIdentities as well.
	if got := e.call(t, "alice", "POST", "/api/v1/users/admin/tokens", map[string]string{"ttl": "1h"}, nil); got != 403 {
		t.Errorf("PAT mints for another user: %d", got)
	}

	// An administrator's password login mints for others.
	e.pw["alice"] = password
	if got := e.call(t, "admin", "POST", "/api/v1/users/alice/tokens", map[string]string{"ttl": "1h"}, nil); got != 201 {
		t.Errorf("admin mints for alice: %d", got)
	}
	if got := e.call(t, "alice", "POST", "/api/v1/users/admin/tokens", map[string]string{"ttl": "1h"}, nil); got != 403 {
		t.Errorf("alice mints for admin: %d", got)
	}
	if got := e.call(t, "", "POST", "/api/v1/users/alice/tokens", map[string]string{"ttl": "1h"}, nil); got != 401 {
		t.Errorf("anonymous mints: %d", got)
	}
	// The robot has no password: without the grant it cannot mint for
	// anyone, and with admin rights but no grant neither.
	_, secret, err := e.ids.CreateRobot(context.Background(), "ci", identity.RobotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.pw["robot+ci"] = secret
	if got := e.call(t, "robot+ci", "POST", "/api/v1/users/alice/tokens", map[string]string{"ttl": "1h"}, nil); got != 403 {
		t.Errorf("robot mints for alice: %d", got)
	}
}

// TestAttachToMissingAccount (#10 finding 4): attaching a policy to a
// user, group or robot that does not exist is 404, and nothing is
// stored; deleting an account through the API detaches its policies.
func TestAttachToMissingAccount(t *testing.T) {
	e := newEnv(t)
	doc := json.RawMessage(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"registry:Pull","Resource":"*"}]}`)
	if got := e.call(t, "admin", "PUT", "/api/v1/policies/read", map[string]any{"kind": "identity", "document": doc}, nil); got != 204 {
		t.Fatalf("put policy: %d", got)
	}
	for _, target := range []string{"user/nobody", "group/nogroup", "robot/norobot"} {
		var body apiErr
		if got := e.call(t, "admin", "PUT", "/api/v1/policies/read/attachments/"+target, nil, &body); got != 404 || body.Error.Code != "NOT_FOUND" {
			t.Errorf("attach to missing %s: %d %+v", target, got, body)
		}
	}
	if got := e.call(t, "admin", "POST", "/api/v1/robots", map[string]string{"name": "ci"}, nil); got != 201 {
		t.Fatalf("create robot: %d", got)
	}
	if got := e.call(t, "admin", "PUT", "/api/v1/policies/read/attachments/robot/ci", nil, nil); got != 204 {
		t.Fatalf("attach: %d", got)
	}
	if got := e.call(t, "admin", "DELETE", "/api/v1/robots/ci", nil, nil); got != 204 {
		t.Fatalf("delete robot: %d", got)
	}
	var pols struct {
		Policies []struct {
			Name        string
			Attachments []struct{ Type, Name string }
		}
	}
	e.call(t, "admin", "GET", "/api/v1/policies", nil, &pols)
	for _, p := range pols.Policies {
		if p.Name == "read" && len(p.Attachments) != 0 {
			t.Errorf("policy still attached after the robot's deletion: %+v", p.Attachments)
		}
	}
}
