package auth_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/sqlaudit"
	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/token"
)

// TestTokenAudit: logins through the real token endpoint land in a real
// audit log, successes and failures, without the password.
func TestTokenAudit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	st, err := sqlaudit.Open(ctx, filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log, err := audit.New(st)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := token.NewServer(w.issuer, service, auth.TokenAuthenticator(w.ids), w.guard.TokenAllow(),
		token.WithObserver(auth.TokenAudit(log, slog.New(slog.DiscardHandler))))
	if err != nil {
		t.Fatal(err)
	}
	h := w.guard.RequestContext("", srv.Handler(slog.New(slog.DiscardHandler)))
	for _, pw := range []string{w.secrets["alice"], "guess-123"} {
		req := httptest.NewRequest(http.MethodGet, "/auth/token?"+url.Values{"service": {service}, "scope": {"repository:team-a/app:pull,delete"}}.Encode(), nil)
		req.RemoteAddr = "10.3.3.3:999"
		req.SetBasicAuth("alice", pw)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	recs, _, err := log.Query(ctx, audit.Filter{})
	if err != nil || len(recs) != 2 {
		t.Fatalf("records: %+v %v", recs, err)
	}
	var d map[string]string
	if err := json.Unmarshal(recs[0].Details, &d); err != nil {
		t.Fatal(err)
	}
	if recs[0].Actor != "user:alice" || recs[0].Result != audit.ResultSuccess || recs[0].SourceIP != "10.3.3.3" ||
		d["granted"] != "repository:team-a/app:pull" || d["requested"] != "repository:team-a/app:pull,delete" {
		t.Errorf("success record %+v %v", recs[0], d)
	}
	if recs[1].Actor != "login:alice" || recs[1].Result != audit.ResultFailure || strings.Contains(string(recs[1].Details), "guess") {
		t.Errorf("failure record %+v %s", recs[1], recs[1].Details)
	}
	if _, err := log.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
