package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/sqlidentity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// replica is one server process's access control over a shared
// database: its own identity service (and caches), guard and token
// server.
type replica struct {
	ids    *identity.Service
	guard  *auth.Guard
	tokens *token.Server
}

// newReplicas opens n replicas on one database, with the guard's default
// lookup cache (5 s) so that only invalidation, never expiry, explains a
// refusal. Every principal may push and pull everything.
func newReplicas(t *testing.T, dsn string, n int) []replica {
	t.Helper()
	ctx := context.Background()
	p, err := policy.Parse(policy.Identity, "all", []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"registry:*","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(policy.Set{Identity: []policy.Attachment{{Policy: p, To: []policy.PrincipalRef{
		{Type: policy.User, Name: "alice"}, {Type: policy.Robot, Name: "ci"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var holder auth.EngineHolder
	holder.Store(e)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := token.NewIssuer(key, "moat") // replicas share the signing key
	if err != nil {
		t.Fatal(err)
	}
	var out []replica
	for range n {
		db, err := sqldb.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		st, err := sqlidentity.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := identity.NewService(st, identity.WithArgon2(identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
		if err != nil {
			t.Fatal(err)
		}
		g, err := auth.NewGuard(ids, issuer, &holder, "moat", "", auth.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := token.NewServer(issuer, "moat", auth.TokenAuthenticator(ids), g.TokenAllow())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, replica{ids, g, ts})
	}
	return out
}

// pulls reports whether the request authenticated with setAuth may pull
// team-a/app through r's guard.
func (r replica) pulls(t *testing.T, setAuth func(*http.Request)) bool {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v2/team-a/app/manifests/v1", nil)
	req.RemoteAddr = "192.0.2.1:1000"
	setAuth(req)
	ok := false
	rec := httptest.NewRecorder()
	r.guard.Middleware("default", http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		ok = r.guard.Authorize(req.Context(), policy.ActionPull, "team-a/app") == nil
	})).ServeHTTP(rec, req)
	if !ok && rec.Code != http.StatusUnauthorized {
		t.Fatalf("refused with %d %s, want 401", rec.Code, rec.Body)
	}
	return ok
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func basicAuth(user, pw string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pw) }
}

var pullScope = []token.Scope{{Type: token.TypeRepository, Name: "team-a/app", Actions: []string{"pull"}}}

// TestRevocationEndsDerivedTokens (#10 findings 2, 3, 4): revoking a
// personal access token, changing a password, rotating a robot secret,
// disabling, deleting or re-creating an account ends, on every replica,
// every access and refresh token derived from the credential, and Basic
// logins — although the guard caches lookups and a replica's password
// cache would otherwise keep them for a minute. Replica 0 uses the
// credentials, replica 1 makes the change (as the CLI or another
// replica would); replica 0 notices at its next Refresh, which servers
// run every second.
func TestRevocationEndsDerivedTokens(t *testing.T) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "moat.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	} {
		t.Run(name, func(t *testing.T) { testRevocation(t, dsn(t)) })
	}
}

func testRevocation(t *testing.T, dsn string) {
	ctx := auth.WithCaller(context.Background(), &auth.Caller{})
	rs := newReplicas(t, dsn, 2)
	use, admin := rs[0], rs[1]
	if _, err := admin.ids.CreateUser(ctx, "alice", "alice-password-1"); err != nil {
		t.Fatal(err)
	}
	issue := func(user, pw string) *token.Response {
		t.Helper()
		resp, err := use.tokens.Issue(ctx, token.Request{Service: "moat", Username: user, Password: pw, Scopes: pullScope, Offline: true})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	refreshes := func(resp *token.Response) bool {
		_, err := use.tokens.Issue(ctx, token.Request{Service: "moat", GrantType: token.GrantRefresh, ClientID: "t", RefreshToken: resp.RefreshToken, Scopes: pullScope})
		if err != nil && !errors.Is(err, token.ErrUnauthorized) {
			t.Fatal(err)
		}
		return err == nil
	}
	// ended checks that change, made on the admin replica, ends each of
	// the credentials on the using replica, after warming its caches.
	ended := func(what string, change func() error, creds ...func(*http.Request)) {
		t.Helper()
		for _, c := range creds {
			if !use.pulls(t, c) {
				t.Fatalf("%s: refused before the change", what)
			}
		}
		if err := change(); err != nil {
			t.Fatal(err)
		}
		if _, err := use.ids.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		for i, c := range creds {
			if use.pulls(t, c) {
				t.Errorf("%s: credential %d still works", what, i)
			}
		}
	}

	// A personal access token, the access and refresh tokens it got.
	_, patSecret, err := admin.ids.CreateAccessToken(ctx, "alice", identity.TokenOptions{TTL: 0})
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := admin.ids.AccessTokens(ctx, "alice")
	fromPAT := issue("alice", patSecret)
	ended("revoked PAT", func() error { return admin.ids.RevokeAccessToken(ctx, "alice", toks[0].ID) },
		basicAuth("alice", patSecret), bearer(fromPAT.Token))
	if refreshes(fromPAT) {
		t.Error("revoked PAT: refresh token still works")
	}

	// A password, changed.
	fromPassword := issue("alice", "alice-password-1")
	ended("changed password", func() error { return admin.ids.SetPassword(ctx, "alice", "alice-password-2") },
		basicAuth("alice", "alice-password-1"), bearer(fromPassword.Token))
	if refreshes(fromPassword) {
		t.Error("changed password: refresh token still works")
	}

	// A user, disabled; then deleted and re-created with the same
	// password: nothing issued before works for the new account.
	fromPassword = issue("alice", "alice-password-2")
	ended("disabled user", func() error { return admin.ids.SetUserDisabled(ctx, "alice", true) },
		basicAuth("alice", "alice-password-2"), bearer(fromPassword.Token))
	if err := admin.ids.SetUserDisabled(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := use.ids.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	fromPassword = issue("alice", "alice-password-2")
	ended("deleted and re-created user", func() error {
		if err := admin.ids.DeleteUser(ctx, "alice"); err != nil {
			return err
		}
		_, err := admin.ids.CreateUser(ctx, "alice", "alice-password-2")
		return err
	}, bearer(fromPassword.Token))
	if refreshes(fromPassword) {
		t.Error("re-created user: the old account's refresh token works")
	}
	if !use.pulls(t, basicAuth("alice", "alice-password-2")) {
		t.Error("the re-created user cannot log in")
	}

	// A robot: rotated; deleted and re-created.
	_, secret, err := admin.ids.CreateRobot(ctx, "ci", identity.RobotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fromRobot := issue("robot+ci", secret)
	newSecret := ""
	ended("rotated robot secret", func() (err error) { newSecret, err = admin.ids.RotateRobotSecret(ctx, "ci"); return err },
		basicAuth("robot+ci", secret), bearer(fromRobot.Token))
	if refreshes(fromRobot) {
		t.Error("rotated robot: refresh token still works")
	}
	fromRobot = issue("robot+ci", newSecret)
	ended("deleted and re-created robot", func() error {
		if err := admin.ids.DeleteRobot(ctx, "ci"); err != nil {
			return err
		}
		_, _, err := admin.ids.CreateRobot(ctx, "ci", identity.RobotOptions{})
		return err
	}, bearer(fromRobot.Token), basicAuth("robot+ci", newSecret))
	if refreshes(fromRobot) {
		t.Error("re-created robot: the old robot's refresh token works")
	}
}
