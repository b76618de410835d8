package api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/api"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
	"github.com/moat-dev/moat/internal/webhooks"
)

// hookEnv is the API with a webhook service whose deliveries run.
type hookEnv struct {
	*env
	svc *webhooks.Service
}

func newHookEnv(t *testing.T) *hookEnv {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	db := sqldbtest.Fresh(t, "sqlite")
	q, err := jobs.New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := webhooks.New(t.Context(), db, q, webhooks.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	r, err := jobs.NewRunner(q, jobs.WithLogger(quiet), jobs.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Register(r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &hookEnv{newEnv(t, func(c *api.Config) { c.Webhooks = svc }), svc}
}

// raw sends a request as admin and returns the status and body.
func (e *hookEnv) raw(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, path, rd)
	r.SetBasicAuth("admin", e.pw["admin"])
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

const hookSecret = "api-test-secret-0123456789"

func TestWebhooksCRUD(t *testing.T) {
	e := newHookEnv(t)
	var mu sync.Mutex
	var got [][2]string // body, signature
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, [2]string{string(b), r.Header.Get("X-Moat-Signature")})
		mu.Unlock()
	}))
	defer rc.Close()

	in := map[string]any{"name": "ci", "url": rc.URL + "/hook", "secret": hookSecret, "events": []string{"dev.moat.scan.*"}}
	code, body := e.raw(t, "POST", "/api/v1/webhooks", in)
	if code != 201 || bytes.Contains(body, []byte("secret")) {
		t.Fatalf("create: %d %s", code, body)
	}
	var hook struct {
		Name, URL, Source    string
		Events, Repositories []string
		Enabled              bool
	}
	if err := json.Unmarshal(body, &hook); err != nil || hook.Source != "api" || !hook.Enabled || hook.Repositories == nil || hook.Events[0] != "dev.moat.scan.*" {
		t.Errorf("created %s (%v)", body, err)
	}
	var conflict apiErr
	if got := e.call(t, "admin", "POST", "/api/v1/webhooks", in, &conflict); got != 409 || conflict.Error.Code != "EXISTS" {
		t.Errorf("duplicate: %d %+v", got, conflict)
	}
	for _, path := range []string{"/api/v1/webhooks", "/api/v1/webhooks/ci"} {
		if code, body := e.raw(t, "GET", path, nil); code != 200 || bytes.Contains(body, []byte(hookSecret)) || !bytes.Contains(body, []byte(`"name":"ci"`)) {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}

	// PUT changes what it names; a new secret signs from then on.
	const newSecret = "rotated-secret-0123456789"
	if code, body := e.raw(t, "PUT", "/api/v1/webhooks/ci", map[string]any{"enabled": false, "secret": newSecret}); code != 200 ||
		!bytes.Contains(body, []byte(`"enabled":false`)) || !bytes.Contains(body, []byte(`"events":["dev.moat.scan.*"]`)) || bytes.Contains(body, []byte("secret")) {
		t.Errorf("update: %d %s", code, body)
	}
	pings := map[string]bool{}
	for range 3 {
		var ping struct{ Delivery string }
		if got := e.call(t, "admin", "POST", "/api/v1/webhooks/ci/test", nil, &ping); got != 202 || ping.Delivery == "" {
			t.Fatalf("test ping: %d %+v", got, ping)
		}
		pings[ping.Delivery] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var page struct {
			Deliveries []struct{ Outcome string }
		}
		e.call(t, "admin", "GET", "/api/v1/webhooks/ci/deliveries", nil, &page)
		if len(page.Deliveries) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("three pings not logged: %+v", page)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	for _, g := range got {
		mac := hmac.New(sha256.New, []byte(newSecret))
		mac.Write([]byte(g[0]))
		if g[1] != "sha256="+hex.EncodeToString(mac.Sum(nil)) || !strings.Contains(g[0], webhooks.TestEvent) {
			t.Errorf("ping %s signed %s, not with the new secret", g[0], g[1])
		}
	}
	mu.Unlock()

	// The log pages newest first, with a link to the next page.
	var page struct {
		Deliveries []struct {
			ID                int64
			Delivery, Outcome string
			EventType         string `json:"event_type"`
			StatusCode        int    `json:"status_code"`
			Attempt           int
			DurationMS        *float64 `json:"duration_ms"`
		}
		Next string
	}
	if got := e.call(t, "admin", "GET", "/api/v1/webhooks/ci/deliveries?limit=2&outcome=delivered", nil, &page); got != 200 || len(page.Deliveries) != 2 || page.Next == "" {
		t.Fatalf("first page: %d %+v", got, page)
	}
	d := page.Deliveries[0]
	if !pings[d.Delivery] || d.Outcome != "delivered" || d.EventType != webhooks.TestEvent || d.StatusCode != 200 || d.Attempt != 1 || d.DurationMS == nil || page.Deliveries[1].ID >= d.ID {
		t.Errorf("newest entry %+v", page.Deliveries)
	}
	if !strings.Contains(page.Next, "outcome=delivered") || !strings.Contains(page.Next, "limit=2") {
		t.Errorf("next link %s drops the filter", page.Next)
	}
	next := page.Next
	page.Next, page.Deliveries = "", nil
	if got := e.call(t, "admin", "GET", next, nil, &page); got != 200 || len(page.Deliveries) != 1 || page.Next != "" {
		t.Errorf("last page: %d %+v", got, page)
	}
	page.Deliveries = nil
	if e.call(t, "admin", "GET", "/api/v1/webhooks/ci/deliveries?outcome=failed", nil, &page); len(page.Deliveries) != 0 {
		t.Errorf("failed deliveries %+v", page.Deliveries)
	}

	// Webhooks from the configuration file are read-only here.
	if err := e.svc.SyncConfig(t.Context(), []webhooks.Webhook{{Name: "from-file", URL: "https://hooks.example/", Secret: hookSecret, Enabled: true}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"PUT", "DELETE"} {
		var refusal apiErr
		if got := e.call(t, "admin", m, "/api/v1/webhooks/from-file", map[string]any{"enabled": false}, &refusal); got != 409 ||
			refusal.Error.Code != "CONFLICT" || !strings.Contains(refusal.Error.Message, "configuration file") {
			t.Errorf("%s a configured webhook: %d %+v", m, got, refusal)
		}
	}
	if code, body := e.raw(t, "GET", "/api/v1/webhooks/from-file", nil); code != 200 || !bytes.Contains(body, []byte(`"source":"config"`)) {
		t.Errorf("configured webhook: %d %s", code, body)
	}

	if got := e.call(t, "admin", "DELETE", "/api/v1/webhooks/ci", nil, nil); got != 204 {
		t.Errorf("delete: %d", got)
	}
	for _, path := range []string{"/api/v1/webhooks/ci", "/api/v1/webhooks/ci/deliveries"} {
		if got := e.call(t, "admin", "GET", path, nil, nil); got != 404 {
			t.Errorf("GET %s after delete: %d", path, got)
		}
	}
	if got := e.call(t, "admin", "POST", "/api/v1/webhooks/ci/test", nil, nil); got != 404 {
		t.Errorf("ping a deleted webhook: %d", got)
	}

	// Every change is audited, without the secret.
	code, body = e.raw(t, "GET", "/api/v1/audit?resource=webhook/", nil)
	if code != 200 || bytes.Contains(body, []byte(hookSecret)) || bytes.Contains(body, []byte(newSecret)) || bytes.Contains(body, []byte("/hook")) {
		t.Fatalf("audit: %d %s", code, body)
	}
	var q struct {
		Records []struct{ Action, Resource, Result string }
	}
	_ = json.Unmarshal(body, &q)
	var actions []string
	for _, r := range q.Records {
		actions = append(actions, r.Action+":"+r.Result)
	}
	want := "webhooks:Create:success webhooks:Create:failure webhooks:Update:success webhooks:Test:success webhooks:Test:success webhooks:Test:success " +
		"webhooks:Update:failure webhooks:Delete:failure webhooks:Delete:success webhooks:Test:failure"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("audit records\n got %s\nwant %s", got, want)
	}
}

func TestWebhooksBadInput(t *testing.T) {
	e := newHookEnv(t)
	ok := func() map[string]any {
		return map[string]any{"name": "ok", "url": "https://hooks.example/x", "secret": hookSecret}
	}
	if got := e.call(t, "admin", "POST", "/api/v1/webhooks", ok(), nil); got != 201 {
		t.Fatalf("create: %d", got)
	}
	for _, tc := range []struct {
		name, method, path string
		change             func(map[string]any)
		body               string // raw body instead of ok() changed
		want               string
	}{
		{name: "bad name", change: func(m map[string]any) { m["name"] = "Bad Name" }, want: "name"},
		{name: "ftp url", change: func(m map[string]any) { m["url"] = "ftp://hooks.example/" }, want: "scheme"},
		{name: "credentials in url", change: func(m map[string]any) { m["url"] = "https://u:p@hooks.example/" }, want: "user information"},
		{name: "missing url", change: func(m map[string]any) { delete(m, "url") }, want: "url is required"},
		{name: "missing secret", change: func(m map[string]any) { delete(m, "secret") }, want: "secret must be"},
		{name: "bad event filter", change: func(m map[string]any) { m["events"] = []string{"dev.*.pushed"} }, want: "events filter"},
		{name: "bad repository filter", change: func(m map[string]any) { m["repositories"] = []string{"Team-A/*"} }, want: "repositories filter"},
		{name: "unknown field", body: `{"name":"x","hmac":"y"}`, want: "unknown field"},
		{name: "not JSON", body: `{"name":`, want: "JSON body"},
		{name: "empty update", method: "PUT", path: "/api/v1/webhooks/ok", body: `{}`, want: "nothing to change"},
		{name: "update to a file url", method: "PUT", path: "/api/v1/webhooks/ok", body: `{"url":"file:///etc/passwd"}`, want: "scheme"},
		{name: "update to a short secret", method: "PUT", path: "/api/v1/webhooks/ok", body: `{"secret":"x"}`, want: "secret must be"},
		{name: "limit 0", method: "GET", path: "/api/v1/webhooks/ok/deliveries?limit=0", want: "limit"},
		{name: "before not a number", method: "GET", path: "/api/v1/webhooks/ok/deliveries?before=x", want: "before"},
		{name: "unknown outcome", method: "GET", path: "/api/v1/webhooks/ok/deliveries?outcome=lost", want: "outcome"},
	} {
		method, path := tc.method, tc.path
		if method == "" {
			method, path = "POST", "/api/v1/webhooks"
		}
		var body any
		switch {
		case tc.body != "":
			body = tc.body
		case tc.change != nil:
			m := ok()
			tc.change(m)
			body = m
		}
		var res apiErr
		if got := e.call(t, "admin", method, path, body, &res); got != 400 || res.Error.Code != "INVALID" || !strings.Contains(res.Error.Message, tc.want) {
			t.Errorf("%s: %d %+v; want 400 mentioning %q", tc.name, got, res, tc.want)
		}
	}
	var res apiErr
	if e.call(t, "admin", "GET", "/api/v1/webhooks/ok", nil, &res); res.Error.Code != "" {
		t.Errorf("a refused update broke the webhook: %+v", res)
	}
}

func TestWebhooksAuthorization(t *testing.T) {
	e := newHookEnv(t)
	if got := e.call(t, "admin", "POST", "/api/v1/webhooks", map[string]any{"name": "ci", "url": "https://hooks.example/", "secret": hookSecret}, nil); got != 201 {
		t.Fatalf("create: %d", got)
	}
	requests := []struct {
		method, path string
		write        bool
	}{
		{"GET", "/api/v1/webhooks", false},
		{"GET", "/api/v1/webhooks/ci", false},
		{"GET", "/api/v1/webhooks/ci/deliveries", false},
		{"POST", "/api/v1/webhooks", true},
		{"PUT", "/api/v1/webhooks/ci", true},
		{"DELETE", "/api/v1/webhooks/ci", true},
		{"POST", "/api/v1/webhooks/ci/test", true},
	}
	check := func(user string, readable bool) {
		t.Helper()
		for _, r := range requests {
			var res apiErr
			got := e.call(t, user, r.method, r.path, `{"name":"x","url":"https://h/","secret":"`+hookSecret+`"}`, &res)
			switch {
			case user == "" && got != 401:
				t.Errorf("anonymous %s %s: %d", r.method, r.path, got)
			case user != "" && (r.write || !readable) && (got != 403 || res.Error.Code != "DENIED"):
				t.Errorf("%s %s %s: %d %+v, want 403", user, r.method, r.path, got, res)
			case user != "" && !r.write && readable && got != 200:
				t.Errorf("%s %s %s: %d, want 200", user, r.method, r.path, got)
			}
		}
	}
	check("", false)
	check("alice", false)

	readOnly := json.RawMessage(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"webhooks:Read","Resource":"*"}]}`)
	if got := e.call(t, "admin", "PUT", "/api/v1/policies/hook-readers", map[string]any{"kind": "identity", "document": readOnly}, nil); got != 204 {
		t.Fatalf("put policy: %d", got)
	}
	if got := e.call(t, "admin", "PUT", "/api/v1/policies/hook-readers/attachments/user/alice", nil, nil); got != 204 {
		t.Fatalf("attach: %d", got)
	}
	check("alice", true)

	// Without a webhook service the endpoints do not exist.
	plain := newEnv(t)
	if got := plain.call(t, "admin", "GET", "/api/v1/webhooks", nil, nil); got != 404 {
		t.Errorf("webhooks without a service: %d", got)
	}
}
