package distribution_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAccessRefusalsWithTokens: a bearer token lacking the scope a
// request needs is challenged for a new token (401 with error
// insufficient_scope and the scope) only when the policy would grant it;
// when the policy refuses anyway the answer is 403 DENIED, which clients
// show as a refusal instead of "authentication required". Every
// endpoint class is covered, with a token that grants nothing.
func TestAccessRefusalsWithTokens(t *testing.T) {
	e := newAccessEnv(t)
	digests := e.seed(t, "team-a/app", "team-b/app")
	da, db := digests["team-a/app"], digests["team-b/app"]
	empty := map[string]http.Header{"alice": e.bearer(t, "user:alice"), "carol": e.bearer(t, "user:carol")}
	for _, tc := range []struct {
		user, method, path string
		scope              string // "" for 403 DENIED
	}{
		// Policy allows alice these in team-a: a token with the scope helps.
		{"alice", "GET", "/v2/team-a/app/manifests/v1", "repository:team-a/app:pull"},
		{"alice", "HEAD", "/v2/team-a/app/manifests/v1", "repository:team-a/app:pull"},
		{"alice", "GET", "/v2/team-a/app/blobs/" + da.String(), "repository:team-a/app:pull"},
		{"alice", "GET", "/v2/team-a/app/tags/list", "repository:team-a/app:pull"},
		{"alice", "GET", "/v2/team-a/app/referrers/" + da.String(), "repository:team-a/app:pull"},
		{"alice", "POST", "/v2/team-a/app/blobs/uploads/", "repository:team-a/app:push"},
		{"alice", "POST", "/v2/team-a/app/blobs/uploads/?mount=" + da.String() + "&from=team-a/app", "repository:team-a/app:push"},
		{"alice", "PATCH", "/v2/team-a/app/blobs/uploads/some-session", "repository:team-a/app:push"},
		{"alice", "PUT", "/v2/team-a/app/manifests/v2", "repository:team-a/app:push"},
		{"alice", "GET", "/v2/_catalog", "registry:catalog:*"},
		// Policy refuses: no token would help.
		{"alice", "GET", "/v2/team-b/app/manifests/v1", ""},
		{"alice", "HEAD", "/v2/team-b/app/manifests/v1", ""},
		{"alice", "GET", "/v2/team-b/app/blobs/" + db.String(), ""},
		{"alice", "GET", "/v2/team-b/app/tags/list", ""},
		{"alice", "GET", "/v2/team-b/app/referrers/" + db.String(), ""},
		{"alice", "POST", "/v2/team-b/app/blobs/uploads/", ""},
		{"alice", "PATCH", "/v2/team-b/app/blobs/uploads/some-session", ""},
		{"alice", "PUT", "/v2/team-b/app/blobs/uploads/some-session?digest=" + db.String(), ""},
		{"alice", "DELETE", "/v2/team-a/app/manifests/v1", ""},
		{"alice", "DELETE", "/v2/team-a/app/blobs/" + da.String(), ""},
		{"carol", "GET", "/v2/_catalog", ""},
		{"carol", "GET", "/v2/team-a/app/manifests/v1", ""},
	} {
		t.Run(tc.user+" "+tc.method+" "+tc.path, func(t *testing.T) {
			w := e.as(t, "", req{method: tc.method, path: tc.path, header: empty[tc.user]})
			ch := w.Header().Get("WWW-Authenticate")
			if tc.scope == "" {
				if w.Code != http.StatusForbidden || ch != "" {
					t.Fatalf("%d %q, want 403 DENIED without a challenge; body %s", w.Code, ch, w.Body)
				}
				if tc.method != "HEAD" {
					expect(t, w, http.StatusForbidden, "DENIED")
				}
				return
			}
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401; body %s", w.Code, w.Body)
			}
			p := challengeParams(t, ch)
			if p["error"] != "insufficient_scope" || !strings.Contains(p["scope"], tc.scope) {
				t.Errorf("challenge %q, want insufficient_scope for %s", ch, tc.scope)
			}
		})
	}
}
