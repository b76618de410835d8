package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/sqlaudit"
	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/sqldb"
)

// auditLog returns a real audit log in a fresh SQLite file.
func auditLog(t testing.TB, opts ...audit.Option) *audit.Log {
	t.Helper()
	db, err := sqldb.Open(context.Background(), filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := sqlaudit.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.New(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close(context.Background()) })
	return log
}

// TestTokenAudit: logins through the real token endpoint land in a real
// audit log, successes and failures, without the password.
func TestTokenAudit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	log := auditLog(t)
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

// TestRegistryAudit: a push that moves a tag records where it pointed
// before; a refusal is "denied", a failure keeps its error, an
// anonymous caller is named so; a manifest pushed or deleted by digest is
// left to the outbox.
func TestRegistryAudit(t *testing.T) {
	ctx := context.Background()
	log := auditLog(t)
	observe := auth.RegistryAudit(log, slog.New(slog.DiscardHandler))
	alice := auth.WithCaller(ctx, &auth.Caller{
		Principal: policy.Principal{Type: policy.User, Name: "alice"},
		Context:   policy.Context{SourceIP: netip.MustParseAddr("10.4.4.4")},
	})
	old, pushed := digest.FromString("old"), digest.FromString("new")
	observe(alice, distribution.Event{Action: policy.ActionPush, Repository: "team-a/app", Reference: "v1", Digest: pushed,
		Tags: []string{"v1", "v2"}, Moved: map[string]digest.Digest{"v1": old}})
	observe(ctx, distribution.Event{Action: policy.ActionPull, Repository: "team-a/app", Reference: "v1",
		Err: &auth.DeniedError{Action: policy.ActionPull, Resource: "repository/team-a/app"}})
	observe(alice, distribution.Event{Action: policy.ActionDelete, Repository: "team-a/app", Reference: "v9", Manifest: true, Err: errors.New("manifest unknown")})
	// Recorded from the outbox instead.
	observe(alice, distribution.Event{Action: policy.ActionPush, Repository: "team-a/app", Reference: "v3", Digest: pushed, Manifest: true})
	observe(alice, distribution.Event{Action: policy.ActionDelete, Repository: "team-a/app", Reference: pushed.String(), Manifest: true})
	// A tag delete has no outbox event.
	observe(alice, distribution.Event{Action: policy.ActionDelete, Repository: "team-a/app", Reference: "v3", Manifest: true})

	recs, _, err := log.Query(ctx, audit.Filter{})
	if err != nil || len(recs) != 4 {
		t.Fatalf("records: %+v %v", recs, err)
	}
	var push struct {
		Digest string
		Tags   []string
		Moved  map[string]string
	}
	if err := json.Unmarshal(recs[0].Details, &push); err != nil {
		t.Fatal(err)
	}
	if recs[0].Actor != "user:alice" || recs[0].Action != "registry:Push" || recs[0].Resource != "repository/team-a/app" ||
		recs[0].SourceIP != "10.4.4.4" || push.Digest != pushed.String() || len(push.Tags) != 2 || len(push.Moved) != 1 || push.Moved["v1"] != old.String() {
		t.Errorf("push record %+v %s", recs[0], recs[0].Details)
	}
	if recs[1].Actor != "anonymous" || recs[1].Result != audit.ResultDenied {
		t.Errorf("refused pull record %+v", recs[1])
	}
	if recs[2].Result != audit.ResultFailure || !strings.Contains(string(recs[2].Details), "manifest unknown") {
		t.Errorf("failed delete record %+v %s", recs[2], recs[2].Details)
	}
}

// TestOutboxAudit: image.pushed and image.deleted events become push and
// delete records with the actor, address, tag move and event id; other
// events are skipped.
func TestOutboxAudit(t *testing.T) {
	ctx := context.Background()
	log := auditLog(t)
	handle := auth.OutboxAudit(log)
	old, pushed := digest.FromString("old"), digest.FromString("new")
	ev := func(id int64, typ string, data events.ImageData) events.Event {
		e, err := events.NewEvent(typ, data.Repository+"@"+data.Digest, data)
		if err != nil {
			t.Fatal(err)
		}
		e.ID = id
		return e
	}
	scanned, err := events.NewEvent(events.ScanCompleted, "team-a/app@"+pushed.String(), map[string]any{"status": "COMPLETE"})
	if err != nil {
		t.Fatal(err)
	}
	err = handle(ctx, []events.Event{
		ev(7, events.ImagePushed, events.ImageData{Repository: "team-a/app", Digest: pushed.String(), Tag: "v1", Previous: old.String(),
			Actor: "robot:ci", SourceIP: "10.1.2.3"}),
		scanned,
		ev(9, events.ImageDeleted, events.ImageData{Repository: "team-a/app", Digest: old.String(), Actor: "user:alice"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := log.Query(ctx, audit.Filter{})
	if err != nil || len(recs) != 2 {
		t.Fatalf("records: %+v %v", recs, err)
	}
	var push struct {
		Digest string
		Tags   []string
		Moved  map[string]string
		Event  int64
	}
	if err := json.Unmarshal(recs[0].Details, &push); err != nil {
		t.Fatal(err)
	}
	if recs[0].Actor != "robot:ci" || recs[0].Action != "registry:Push" || recs[0].Resource != "repository/team-a/app" || recs[0].SourceIP != "10.1.2.3" ||
		push.Digest != pushed.String() || len(push.Tags) != 1 || push.Moved["v1"] != old.String() || push.Event != 7 {
		t.Errorf("push record %+v %s", recs[0], recs[0].Details)
	}
	if recs[1].Actor != "user:alice" || recs[1].Action != "registry:Delete" || recs[1].Result != audit.ResultSuccess {
		t.Errorf("delete record %+v", recs[1])
	}
	if err := handle(ctx, []events.Event{{ID: 10, Type: events.ImagePushed, Data: json.RawMessage(`{"repository":1}`)}}); err == nil {
		t.Error("a malformed event was skipped silently")
	}
}
