package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/token"
)

// refusalGuard is the world's guard with refused requests and logins
// audited into a real log on the world's clock.
func refusalGuard(t *testing.T, w *world) (*auth.Guard, *audit.Log) {
	t.Helper()
	log := auditLog(t, audit.WithClock(w.clock.now))
	quiet := slog.New(slog.DiscardHandler)
	g, err := auth.NewGuard(w.ids, w.issuer, w.engine, service, realm, auth.WithClock(w.clock.now), auth.WithLookupTTL(0),
		auth.WithLogger(quiet), auth.WithRefusalObserver(auth.RefusalAudit(log, quiet)))
	if err != nil {
		t.Fatal(err)
	}
	return g, log
}

func bearerHeader(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func path(p string) func(*http.Request) {
	return func(r *http.Request) { r.URL.Path = p }
}

// TestRefusedCredentialsAudited: every request the guard answers 401 for
// its credentials — forged, expired, garbled bearer tokens, a token whose
// account is gone, a wrong password, malformed Basic, an unknown scheme —
// is recorded with the presented actor, the path, the source and a reason
// class, and never the token or password. Before, these were only logged.
func TestRefusedCredentialsAudited(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g, log := refusalGuard(t, w)

	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forger, _ := token.NewIssuer(otherKey, "moat", token.WithClock(w.clock.now))
	forged, _, _ := forger.IssueAccess(token.Identity{Subject: "user:root", Credential: "password:1:fp", AccountID: 1}, service,
		[]token.Access{{Type: "repository", Name: "team-a/app", Actions: []string{"pull"}}})
	expired, _, _ := w.issuer.IssueAccess(w.identity(t, "alice"), service, nil)
	w.clock.add(time.Hour)
	gone, _, _ := w.issuer.IssueAccess(w.identity(t, "erin"), service, nil)
	if err := w.ids.DeleteUser(ctx, "erin"); err != nil {
		t.Fatal(err)
	}

	// Each case on a path of its own: identical refusals would be
	// aggregated (see TestRefusalFloodThroughGuard).
	cases := []struct {
		name          string
		set           func(*http.Request)
		actor, reason string
		resource      string
	}{
		{"forged token", bearerHeader(forged), "invalid-token", audit.ReasonInvalidToken, "/v2/team-a/forged/manifests/latest"},
		{"expired token", bearerHeader(expired), "invalid-token", audit.ReasonInvalidToken, "/v2/team-a/expired/manifests/latest"},
		{"garbled token", bearerHeader("abc.def.ghi"), "invalid-token", audit.ReasonInvalidToken, "/v2/team-a/garbled/manifests/latest"},
		{"deleted account", bearerHeader(gone), "invalid-token", audit.ReasonAccountUnusable, "/v2/team-a/gone/manifests/latest"},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("bob", "wrong-password") }, "login:bob", audit.ReasonBadCredentials, "/v2/team-a/basic/blobs/uploads/"},
		{"malformed basic", func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, "anonymous", audit.ReasonMalformedCredentials, "/v2/team-a/malformed/tags/list"},
		{"unknown scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, "anonymous", audit.ReasonMalformedCredentials, "/v2/_catalog"},
		{"management API", bearerHeader(forged), "invalid-token", audit.ReasonInvalidToken, "/api/v1/users"},
	}
	for _, tc := range cases {
		if _, rec := through(g, "", tc.set, path(tc.resource)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("%s: status %d", tc.name, rec.Code)
		}
	}
	// The anonymous ping of the API base is the login handshake, not a
	// refusal.
	if _, rec := through(g, "", path("/v2/")); rec.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous /v2/: %d", rec.Code)
	}
	recs, _, err := log.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(cases) {
		t.Fatalf("%d records for %d refusals: %+v", len(recs), len(cases), recs)
	}
	for i, tc := range cases {
		r := recs[i]
		var d map[string]string
		if err := json.Unmarshal(r.Details, &d); err != nil {
			t.Fatal(err)
		}
		if r.Actor != tc.actor || r.Action != "auth:Authenticate" || r.Resource != tc.resource || r.SourceIP != "10.1.1.1" ||
			r.Result != audit.ResultFailure || d["reason"] != tc.reason || d["method"] != "GET" {
			t.Errorf("%s: record %+v %s", tc.name, r, r.Details)
		}
		for _, secret := range []string{forged, expired, gone, "wrong-password", "abc.def"} {
			if strings.Contains(string(r.Details), secret) || strings.Contains(r.Actor, secret) {
				t.Errorf("%s: record holds a credential: %s", tc.name, r.Details)
			}
		}
	}
}

// TestRefusalFloodThroughGuard: thousands of identical refused requests
// (one forged token, one source) add two records, whose counts make up
// every request.
func TestRefusalFloodThroughGuard(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g, log := refusalGuard(t, w)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forger, _ := token.NewIssuer(otherKey, "moat", token.WithClock(w.clock.now))
	forged, _, _ := forger.IssueAccess(token.Identity{Subject: "user:root", Credential: "password:1:fp", AccountID: 1}, service, nil)
	const n = 3000
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for range n / 6 {
				through(g, "", bearerHeader(forged))
			}
		})
	}
	wg.Wait()
	if recs, _, _ := log.Query(ctx, audit.Filter{}); len(recs) != 1 {
		t.Fatalf("%d records during the flood, want 1", len(recs))
	}
	if err := log.Close(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := log.Query(ctx, audit.Filter{})
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records after the minute: %v", len(recs), err)
	}
	var sum struct {
		Aggregated bool
		Count      int
		Reason     string
	}
	if err := json.Unmarshal(recs[1].Details, &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.Aggregated || sum.Count != n-1 || sum.Reason != audit.ReasonInvalidToken || recs[1].Actor != "invalid-token" || recs[1].SourceIP != "10.1.1.1" {
		t.Errorf("summary %+v %s", recs[1], recs[1].Details)
	}
	if _, err := log.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTokenEndpointFailuresAudited: token requests refused before any
// credential is checked (a malformed scope, a bearer header, an unknown
// grant, a wrong method) are recorded as well as wrong passwords, each
// with a reason class and without the secret.
func TestTokenEndpointFailuresAudited(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	log := auditLog(t, audit.WithClock(w.clock.now))
	quiet := slog.New(slog.DiscardHandler)
	srv, err := token.NewServer(w.issuer, service, auth.TokenAuthenticator(w.ids), w.guard.TokenAllow(), token.WithObserver(auth.TokenAudit(log, quiet)))
	if err != nil {
		t.Fatal(err)
	}
	h := w.guard.RequestContext("", srv.Handler(quiet))
	send := func(method, target string, set func(*http.Request)) int {
		var req *http.Request
		if method == http.MethodPost {
			req = httptest.NewRequest(method, "/auth/token", strings.NewReader(target))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(method, target, nil)
		}
		req.RemoteAddr = "10.5.5.5:1"
		if set != nil {
			set(req)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	cases := []struct {
		name, method, target string
		set                  func(*http.Request)
		actor, reason        string
	}{
		{"malformed scope", "GET", "/auth/token?service=" + service + "&scope=garbage", nil, "anonymous", audit.ReasonInvalidRequest},
		{"bearer header", "GET", "/auth/token?service=" + service, bearerHeader("secret-token-value"), "anonymous", audit.ReasonBadCredentials},
		{"unknown grant", "POST", "grant_type=magic&service=" + service + "&client_id=c", nil, "anonymous", audit.ReasonInvalidRequest},
		{"wrong method", "PUT", "/auth/token", nil, "anonymous", audit.ReasonInvalidRequest},
		{"wrong password", "GET", "/auth/token?service=" + service, func(r *http.Request) { r.SetBasicAuth("bob", "wrong-password") }, "login:bob", audit.ReasonBadCredentials},
		{"bad refresh token", "POST", "grant_type=refresh_token&service=" + service + "&client_id=c&refresh_token=secret-refresh", nil, "anonymous", audit.ReasonInvalidToken},
	}
	for _, tc := range cases {
		if code := send(tc.method, tc.target, tc.set); code < 400 {
			t.Fatalf("%s: status %d", tc.name, code)
		}
	}
	// Failures alike in all but their request (three invalid requests
	// from one source) are aggregated: count what the records stand for.
	if err := log.Close(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := log.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	stands := 0
	found := map[string]bool{}
	for _, r := range recs {
		var d struct {
			Reason     string
			Aggregated bool
			Count      int
		}
		if err := json.Unmarshal(r.Details, &d); err != nil {
			t.Fatal(err)
		}
		if r.Action != "auth:IssueToken" || r.Result != audit.ResultFailure || r.SourceIP != "10.5.5.5" {
			t.Errorf("record %+v %s", r, r.Details)
		}
		found[r.Actor+" "+d.Reason] = true
		if d.Aggregated {
			stands += d.Count
		} else {
			stands++
		}
		for _, secret := range []string{"secret-token-value", "wrong-password", "secret-refresh"} {
			if strings.Contains(string(r.Details), secret) {
				t.Errorf("record holds a secret: %s", r.Details)
			}
		}
	}
	for _, tc := range cases {
		if !found[tc.actor+" "+tc.reason] {
			t.Errorf("%s: no record by %s for %s in %d records", tc.name, tc.actor, tc.reason, len(recs))
		}
	}
	if stands != len(cases) {
		t.Errorf("records stand for %d failures, want %d", stands, len(cases))
	}
}
