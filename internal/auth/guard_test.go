package auth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
	"github.com/moat-dev/moat/internal/testutil/testpki"
)

func TestCatalogAuthorization(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// Catalog listing: alice may list team-a repositories only.
	p, err := policy.Parse(policy.Identity, "list-a", []byte(`{"Version":"2026-01-01","Statement":[
		{"Effect":"Allow","Action":"registry:ListRepositories","Resource":"repository/team-a/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(policy.Set{Identity: []policy.Attachment{{Policy: p, To: []policy.PrincipalRef{{Type: policy.User, Name: "alice"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.engine.Store(e)
	for _, tc := range []struct {
		user  string
		grant bool
	}{{"alice", true}, {"bob", false}} {
		sc, _ := token.ParseScopes("registry:catalog:*")
		resp, err := w.tokens.Issue(ctx, token.Request{Service: service, Username: tc.user, Password: w.secrets[tc.user], Scopes: sc})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(resp.Granted) == 1; got != tc.grant {
			t.Errorf("%s catalog grant %v", tc.user, resp.Granted)
		}
		c, _ := w.identify(t, "", "10.0.0.1:1", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+resp.Token) })
		if err := w.guard.Authorize(c, policy.ActionListRepositories, ""); (err == nil) != tc.grant {
			t.Errorf("%s catalog: %v", tc.user, err)
		}
		// Per-repository filtering of catalog entries.
		for repo, want := range map[string]bool{"team-a/app": tc.grant, "team-ab/app": false, "team-b/app": false} {
			if got := w.guard.Allowed(c, policy.ActionListRepositories, repo); got != want {
				t.Errorf("%s sees %s in the catalog: %v", tc.user, repo, got)
			}
		}
	}
}

func TestWriteDenied(t *testing.T) {
	w := newWorld(t)
	anon, _ := w.identify(t, "", "10.0.0.1:1", nil)
	bob, _ := w.identify(t, "", "10.0.0.1:1", w.basic("bob"))
	for _, tc := range []struct {
		ctx    context.Context
		status int
		code   string
	}{{anon, 401, "UNAUTHORIZED"}, {bob, 403, "DENIED"}} {
		err := w.guard.Authorize(tc.ctx, policy.ActionPush, "team-a/app")
		var de *auth.DeniedError
		if !errors.As(err, &de) {
			t.Fatalf("not denied: %v", err)
		}
		// Handlers can classify without importing auth.
		var ch interface{ Challenge() string }
		if !errors.As(err, &ch) {
			t.Fatal("no Challenge method")
		}
		rec := httptest.NewRecorder()
		auth.WriteDenied(rec, de)
		var body struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.status || len(body.Errors) != 1 || body.Errors[0].Code != tc.code {
			t.Errorf("got %d %s", rec.Code, rec.Body)
		}
		if tc.status == 401 && rec.Header().Get("WWW-Authenticate") != `Bearer realm="`+realm+`",service="`+service+`",scope="repository:team-a/app:push"` {
			t.Errorf("challenge %q", rec.Header().Get("WWW-Authenticate"))
		}
	}
	if err := w.guard.Authorize(context.Background(), policy.ActionPull, "library/base"); err == nil {
		t.Error("a context without a caller was allowed")
	}
	var nilEngine auth.EngineHolder
	g, err := auth.NewGuard(w.ids, w.issuer, &nilEngine, service, realm)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Authorize(bob, policy.ActionPull, "library/base"); err == nil {
		t.Error("allowed before any engine was loaded")
	}
}

// TestTokenEndpointConditions: a token requested through the private
// listener from outside its network gets nothing; from inside it gets
// what policy allows. The HTTP endpoint is the real handler.
func TestTokenEndpointConditions(t *testing.T) {
	w := newWorld(t)
	h := w.guard.RequestContext("private", w.tokens.Handler(nil))
	for _, tc := range []struct {
		remote string
		want   int
	}{{"10.9.9.9:4000", 1}, {"198.51.100.7:4000", 0}} {
		req := httptest.NewRequest(http.MethodGet, "/auth/token?"+url.Values{"service": {service}, "scope": {"repository:team-a/app:pull"}}.Encode(), nil)
		req.RemoteAddr = tc.remote
		req.SetBasicAuth("alice", w.secrets["alice"])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body struct{ Token string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
			t.Fatalf("%s: %d %s", tc.remote, rec.Code, rec.Body)
		}
		c, err := w.issuer.VerifyAccess(body.Token, service)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Access) != tc.want {
			t.Errorf("%s: granted %v", tc.remote, c.Access)
		}
	}
}

// TestClientCertificateCondition: the verified client certificate's
// subject reaches policy conditions.
func TestClientCertificateCondition(t *testing.T) {
	w := newWorld(t)
	p, err := policy.Parse(policy.Identity, "mtls", []byte(`{"Version":"2026-01-01","Statement":[
		{"Effect":"Allow","Action":"registry:Pull","Resource":"repository/other/*","Condition":{"StringLike":{"moat:ClientCertSubject":"CN=ci-*,O=Acme"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(policy.Set{Identity: []policy.Attachment{{Policy: p, To: []policy.PrincipalRef{{Type: policy.User, Name: "erin"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.engine.Store(e)
	ca := testpki.NewCA(t, "clients")
	mk := func(cn string) *x509.Certificate {
		return ca.Issue(t, pkix.Name{CommonName: cn, Organization: []string{"Acme"}}).Leaf
	}
	for cn, want := range map[string]bool{"ci-7": true, "laptop": false, "": false} {
		req := httptest.NewRequest(http.MethodGet, "/v2/other/x/tags/list", nil)
		req.SetBasicAuth("erin", w.secrets["erin"])
		if cn != "" {
			req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{mk(cn)}}}
		}
		var got error = errors.New("handler not reached")
		w.guard.Middleware("", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			got = w.guard.Authorize(r.Context(), policy.ActionPull, "other/x")
		})).ServeHTTP(httptest.NewRecorder(), req)
		if (got == nil) != want {
			t.Errorf("CN=%q: %v", cn, got)
		}
	}
}
