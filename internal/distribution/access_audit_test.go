package distribution_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moat-dev/moat/internal/auth/policy"
)

// TestAccessObserverRefusedCatalogAndMount: a refused catalog and a
// cross-repository mount refused for its source reach the observer, so
// they are audited like every other refusal.
func TestAccessObserverRefusedCatalogAndMount(t *testing.T) {
	e := newAccessEnv(t)
	shared := e.pushBlob(t, "shared/base", randomBytes(t, 64))
	expect(t, e.as(t, "carol", req{method: "GET", path: "/v2/_catalog"}), http.StatusForbidden, "DENIED")

	open := e.testEnv.handler
	e.testEnv.handler = e.guarded
	var w *httptest.ResponseRecorder
	func() {
		defer func() { e.testEnv.handler = open }()
		w = e.do(t, req{method: "POST", path: "/v2/team-a/app/blobs/uploads/?mount=" + shared.String() + "&from=shared/base",
			header: e.bearer(t, "user:alice", "repository:team-a/app:pull,push")})
	}()
	expect(t, w, http.StatusUnauthorized, "UNAUTHORIZED")

	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.events) != 2 {
		t.Fatalf("events %+v", e.events)
	}
	if c := e.events[0]; c.Action != policy.ActionListRepositories || c.Repository != "" || c.Err == nil {
		t.Errorf("refused catalog %+v", c)
	}
	if m := e.events[1]; m.Action != policy.ActionPull || m.Repository != "shared/base" || m.Digest != shared || m.Err == nil {
		t.Errorf("refused mount %+v", m)
	}
}
