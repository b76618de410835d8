package auth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/testutil/testpki"
)

// clientCert makes a certificate with the given common name, signed by
// a throwaway CA (the guard trusts what the TLS layer verified, so the
// chain only has to look verified).
func clientCert(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	return testpki.NewCA(t, "clients").Issue(t, pkix.Name{CommonName: cn, Organization: []string{"Example"}}).Leaf
}

func verified(c *x509.Certificate) func(*http.Request) {
	return func(r *http.Request) {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c}}}
	}
}

type listenerCtxKey struct{}

// certGuard is the world's guard with client-certificate identity on
// listener "mtls", the listener read from the request context, a realm of
// its own for "mtls", and certificate logins audited into a real log.
func certGuard(t *testing.T, w *world) (*auth.Guard, *audit.Log) {
	t.Helper()
	log := auditLog(t)
	g, err := auth.NewGuard(w.ids, w.issuer, w.engine, service, realm, auth.WithClock(w.clock.now), auth.WithLookupTTL(0),
		auth.WithLogger(slog.New(slog.DiscardHandler)),
		auth.WithClientCertIdentity("mtls"),
		auth.WithListenerRealm("mtls", "https://mtls.reg.test/auth/token"),
		auth.WithListenerFrom(func(ctx context.Context) (string, bool) {
			n, ok := ctx.Value(listenerCtxKey{}).(string)
			return n, ok
		}),
		auth.WithLoginObserver(auth.LoginAudit(log, slog.New(slog.DiscardHandler))))
	if err != nil {
		t.Fatal(err)
	}
	return g, log
}

// through runs the middleware for a request that arrived on listener
// (as the server's base context says) and returns the caller or the
// response.
func through(g *auth.Guard, listener string, set ...func(*http.Request)) (*auth.Caller, *httptest.ResponseRecorder) {
	req := httptest.NewRequest(http.MethodGet, "/v2/team-a/app/manifests/latest", nil)
	req.RemoteAddr = "10.1.1.1:4000"
	if listener != "" {
		req = req.WithContext(context.WithValue(req.Context(), listenerCtxKey{}, listener))
	}
	for _, s := range set {
		s(req)
	}
	var got *auth.Caller
	rec := httptest.NewRecorder()
	g.Middleware("default", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got, _ = auth.CallerFrom(r.Context()) })).ServeHTTP(rec, req)
	return got, rec
}

func TestCertSubject(t *testing.T) {
	for cn, want := range map[string]string{"alice": "user:alice", "robot+ci": "robot:ci", "robot+": "robot:", "Robot+x": "user:Robot+x"} {
		if got, err := auth.CertSubject(cn); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", cn, got, err, want)
		}
	}
	if _, err := auth.CertSubject(""); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("empty common name: %v", err)
	}
}

func TestClientCertIdentity(t *testing.T) {
	w := newWorld(t)
	g, _ := certGuard(t, w)
	alice := clientCert(t, "alice")
	basicBob := func(r *http.Request) { r.SetBasicAuth("bob", w.secrets["bob"]) }
	for _, tc := range []struct {
		name     string
		listener string
		set      []func(*http.Request)
		want     string // principal "type:name"; "" means refused with 401
	}{
		{"user from common name", "mtls", []func(*http.Request){verified(alice)}, "user:alice"},
		{"robot from robot+NAME", "mtls", []func(*http.Request){verified(clientCert(t, "robot+ci-a"))}, "robot:ci-a"},
		{"unknown account", "mtls", []func(*http.Request){verified(clientCert(t, "zed"))}, ""},
		{"no common name", "mtls", []func(*http.Request){verified(clientCert(t, ""))}, ""},
		{"password wins over the certificate", "mtls", []func(*http.Request){verified(alice), basicBob}, "user:bob"},
		{"listener without certificate identity", "public", []func(*http.Request){verified(alice)}, "anonymous:"},
		{"listener passed to Middleware, not enabled", "", []func(*http.Request){verified(alice)}, "anonymous:"},
		{"certificate not verified", "mtls", []func(*http.Request){func(r *http.Request) {
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{alice}}
		}}, "anonymous:"},
		{"no certificate", "mtls", nil, "anonymous:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := through(g, tc.listener, tc.set...)
			if tc.want == "" {
				if c != nil || rec.Code != http.StatusUnauthorized {
					t.Fatalf("not refused: %+v %d", c, rec.Code)
				}
				if ch := rec.Header().Get("WWW-Authenticate"); !strings.Contains(ch, `realm="https://mtls.reg.test/auth/token"`) {
					t.Errorf("challenge %q does not name the listener's realm", ch)
				}
				return
			}
			if c == nil {
				t.Fatalf("refused: %d %s", rec.Code, rec.Body)
			}
			if got := string(c.Principal.Type) + ":" + c.Principal.Name; got != tc.want {
				t.Errorf("principal %s, want %s", got, tc.want)
			}
			wantListener := tc.listener
			if wantListener == "" {
				wantListener = "default"
			}
			if c.Context.Listener != wantListener {
				t.Errorf("listener %q, want %q", c.Context.Listener, wantListener)
			}
			if c.Context.ClientCertSubject == "" && len(tc.set) > 0 && tc.name != "certificate not verified" {
				t.Error("client certificate subject not in the policy context")
			}
		})
	}

	// The certificate's account is authorized like a password login.
	c, _ := through(g, "mtls", verified(alice))
	ctx := auth.WithCaller(context.Background(), c)
	if err := g.Authorize(ctx, policy.ActionPush, "team-a/app"); err != nil {
		t.Errorf("alice by certificate may push team-a/app: %v", err)
	}
	var de *auth.DeniedError
	if err := g.Authorize(ctx, policy.ActionPush, "team-b/app"); !errors.As(err, &de) || de.Challenge() != "" {
		t.Errorf("alice by certificate pushing team-b/app: %v, want a plain denial", err)
	}

	// A disabled account's certificate stops working.
	if err := w.ids.SetUserDisabled(context.Background(), "alice", true); err != nil {
		t.Fatal(err)
	}
	if c, rec := through(g, "mtls", verified(alice)); c != nil || rec.Code != 401 {
		t.Errorf("disabled alice by certificate: %+v %d", c, rec.Code)
	}
}

// TestListenerFromContext: the listener policy of the listener a request
// arrived on applies, whatever name Middleware was built with.
func TestListenerFromContext(t *testing.T) {
	w := newWorld(t)
	g, _ := certGuard(t, w)
	bob := func(r *http.Request) { r.SetBasicAuth("bob", w.secrets["bob"]); r.RemoteAddr = "203.0.113.9:1" }
	for listener, allowed := range map[string]bool{"private": false, "public": true, "": true} {
		c, rec := through(g, listener, bob)
		if c == nil {
			t.Fatalf("%s: %d", listener, rec.Code)
		}
		err := g.Authorize(auth.WithCaller(context.Background(), c), policy.ActionPull, "team-b/app")
		if (err == nil) != allowed {
			t.Errorf("bob from outside on listener %q: %v, want allowed=%v", listener, err, allowed)
		}
	}
}

func TestCertLoginAudit(t *testing.T) {
	w := newWorld(t)
	g, log := certGuard(t, w)
	ctx := context.Background()
	alice, zed := clientCert(t, "alice"), clientCert(t, "zed")
	for range 3 {
		through(g, "mtls", verified(alice))
		through(g, "mtls", verified(zed))
	}
	recs, _, err := log.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want one per certificate and outcome: %+v", len(recs), recs)
	}
	var d map[string]string
	if err := json.Unmarshal(recs[0].Details, &d); err != nil {
		t.Fatal(err)
	}
	if recs[0].Actor != "user:alice" || recs[0].Action != "auth:ClientCertificateLogin" || recs[0].Result != audit.ResultSuccess ||
		recs[0].SourceIP != "10.1.1.1" || d["certSubject"] != "CN=alice,O=Example" || d["listener"] != "mtls" || d["serial"] != alice.SerialNumber.Text(16) {
		t.Errorf("success record %+v %v", recs[0], d)
	}
	if recs[1].Actor != "cert:zed" || recs[1].Result != audit.ResultFailure || !strings.Contains(string(recs[1].Details), `"reason":"bad-credentials"`) {
		t.Errorf("failure record %+v %s", recs[1], recs[1].Details)
	}
	// After the report interval the same login is recorded again.
	w.clock.add(auth.LoginReportInterval + time.Second)
	through(g, "mtls", verified(alice))
	if recs, _, _ = log.Query(ctx, audit.Filter{}); len(recs) != 3 {
		t.Errorf("%d records after the interval, want 3", len(recs))
	}
	if _, err := log.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestBasicLoginAudit: Basic credentials on /v2/ are logins too. Each
// account, source address and outcome is recorded once per report
// interval, never with the password.
func TestBasicLoginAudit(t *testing.T) {
	w := newWorld(t)
	g, log := certGuard(t, w)
	ctx := context.Background()
	from := func(ip string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = ip + ":4000" } }
	bob := func(pass string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth("bob", pass) } }
	for range 3 {
		through(g, "public", bob(w.secrets["bob"]))
		through(g, "public", bob("wrong-password"))
	}
	through(g, "public", from("10.2.2.2"), bob(w.secrets["bob"])) // another source: recorded
	recs, _, err := log.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want one per account, source and outcome: %+v", len(recs), recs)
	}
	ok, bad, other := recs[0], recs[1], recs[2]
	if ok.Actor != "user:bob" || ok.Action != "auth:BasicLogin" || ok.Result != audit.ResultSuccess || ok.SourceIP != "10.1.1.1" ||
		!strings.Contains(string(ok.Details), `"listener":"public"`) {
		t.Errorf("success record %+v %s", ok, ok.Details)
	}
	if bad.Actor != "login:bob" || bad.Result != audit.ResultFailure || !strings.Contains(string(bad.Details), `"reason":"bad-credentials"`) {
		t.Errorf("failure record %+v %s", bad, bad.Details)
	}
	if other.SourceIP != "10.2.2.2" || other.Result != audit.ResultSuccess {
		t.Errorf("second source record %+v", other)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Details), w.secrets["bob"]) || strings.Contains(string(r.Details), "wrong-password") {
			t.Errorf("record %d holds a password: %s", r.Seq, r.Details)
		}
	}
	w.clock.add(auth.LoginReportInterval + time.Second)
	through(g, "public", bob(w.secrets["bob"]))
	if recs, _, _ = log.Query(ctx, audit.Filter{}); len(recs) != 4 {
		t.Errorf("%d records after the interval, want 4", len(recs))
	}
}
