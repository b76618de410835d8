package auth_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/token"
)

// TestThrottledLoginsAnswer429 (#10 finding 7): once an account is held
// back for a source, Basic on /v2/ (and /api/, behind the same
// middleware) and both forms of the token endpoint answer 429 with
// Retry-After, in each one's error format, and the login and token
// audit records say "throttled".
func TestThrottledLoginsAnswer429(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	log := auditLog(t)
	quiet := slog.New(slog.DiscardHandler)
	g, err := auth.NewGuard(w.ids, w.issuer, w.engine, service, realm, auth.WithClock(w.clock.now), auth.WithLogger(quiet),
		auth.WithLoginObserver(auth.LoginAudit(log, quiet)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := token.NewServer(w.issuer, service, auth.TokenAuthenticator(w.ids), g.TokenAllow(), token.WithObserver(auth.TokenAudit(log, quiet)))
	if err != nil {
		t.Fatal(err)
	}
	tokens := g.RequestContext("", srv.Handler(quiet))
	v2 := g.Middleware("", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	const attacker = "203.0.113.7:4444"
	basic := func(pw string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/v2/team-a/app/tags/list", nil)
		r.RemoteAddr = attacker
		r.SetBasicAuth("alice", pw)
		rec := httptest.NewRecorder()
		v2.ServeHTTP(rec, r)
		return rec
	}
	for i := range 5 {
		if rec := basic("wrong-" + strconv.Itoa(i)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, rec.Code)
		}
	}
	// Even the right password is refused now, unchecked.
	rec := basic(w.secrets["alice"])
	var body struct{ Errors []struct{ Code string } }
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || len(body.Errors) != 1 || body.Errors[0].Code != "TOOMANYREQUESTS" ||
		rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("Basic on /v2/: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}

	get := httptest.NewRequest(http.MethodGet, "/auth/token?"+url.Values{"service": {service}, "scope": {"repository:team-a/app:pull"}}.Encode(), nil)
	get.RemoteAddr = attacker
	get.SetBasicAuth("alice", w.secrets["alice"])
	rec = httptest.NewRecorder()
	tokens.ServeHTTP(rec, get)
	body.Errors = nil
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || len(body.Errors) != 1 || body.Errors[0].Code != "TOOMANYREQUESTS" {
		t.Errorf("token GET: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	form := url.Values{"grant_type": {"password"}, "service": {service}, "client_id": {"t"}, "username": {"alice"}, "password": {w.secrets["alice"]}}
	post := httptest.NewRequest(http.MethodPost, "/auth/token", strings.NewReader(form.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.RemoteAddr = attacker
	rec = httptest.NewRecorder()
	tokens.ServeHTTP(rec, post)
	var oauth struct{ Error string }
	_ = json.Unmarshal(rec.Body.Bytes(), &oauth)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || oauth.Error == "" {
		t.Errorf("token POST: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}

	// Another address is not held back.
	r := httptest.NewRequest(http.MethodGet, "/v2/team-a/app/tags/list", nil)
	r.RemoteAddr = "10.9.9.9:1"
	r.SetBasicAuth("alice", w.secrets["alice"])
	rec = httptest.NewRecorder()
	v2.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		t.Errorf("alice from elsewhere: %d %s", rec.Code, rec.Body)
	}

	// Identical refusals within a minute are counted into one summary,
	// written at the latest when the log closes.
	if err := log.Close(ctx); err != nil {
		t.Fatal(err)
	}
	recs, _, err := log.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	throttled := map[string]int{}
	for _, rc := range recs {
		var d struct {
			Reason string
			Count  int
		}
		_ = json.Unmarshal(rc.Details, &d)
		if rc.Result == audit.ResultFailure && d.Reason == audit.ReasonThrottled && rc.SourceIP == "203.0.113.7" {
			throttled[rc.Action] += max(d.Count, 1)
		}
	}
	if throttled["auth:BasicLogin"] != 1 || throttled["auth:IssueToken"] != 2 {
		t.Errorf("throttled logins audited %v, want 1 Basic and 2 token requests\n%+v", throttled, recs)
	}
}
