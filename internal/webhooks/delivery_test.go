package webhooks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
	"github.com/moat-dev/moat/internal/webhooks"
)

// Events appended to the outbox reach the webhooks whose filters they
// pass, as signed CloudEvents, once each.
func TestDeliveryAndFilters(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		reg := prometheus.NewRegistry()
		p := start(t, db, procOpts{opts: []webhooks.Option{webhooks.WithMetrics(reg)}})
		all, findings, teamA, off, narrow := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
		p.create(t, webhooks.Webhook{Name: "all", URL: all.srv.URL + "/hook?token=x"})
		p.create(t, webhooks.Webhook{Name: "findings", URL: findings.srv.URL, Events: []string{"dev.moat.finding.*"}, Secret: "another-secret-of-16+"})
		p.create(t, webhooks.Webhook{Name: "team-a", URL: teamA.srv.URL, Repositories: []string{"team-a/*"}})
		p.create(t, webhooks.Webhook{Name: "narrow", URL: narrow.srv.URL, Events: []string{events.ImagePushed}, Repositories: []string{"team-b/app"}})
		p.create(t, webhooks.Webhook{Name: "off", URL: off.srv.URL})
		disabled := false
		if _, err := p.svc.Update(t.Context(), "off", webhooks.Change{Enabled: &disabled}); err != nil {
			t.Fatal(err)
		}

		sent := []events.Event{
			p.append(t, events.ImagePushed, "team-a/app@sha256:1", map[string]any{"repository": "team-a/app", "digest": "sha256:1", "tags": []string{"v1"}}),
			p.append(t, events.FindingNew, "team-b/x@sha256:2", map[string]any{"repository": "team-b/x", "digest": "sha256:2", "finding": map[string]string{"id": "CVE-2026-1"}}),
			p.append(t, events.ScanCompleted, "team-a/sub/y@sha256:3", map[string]any{"repository": "team-a/sub/y", "digest": "sha256:3"}),
			p.append(t, "dev.moat.registry.started", "moat", map[string]any{"note": "no repository"}),
		}
		eventually(t, "all deliveries", func() bool {
			return len(all.requests()) == 4 && len(findings.requests()) == 1 && len(teamA.requests()) == 2
		})
		time.Sleep(300 * time.Millisecond) // time for any wrong delivery to arrive
		if n, m := len(off.requests()), len(narrow.requests()); n != 0 || m != 0 {
			t.Errorf("disabled webhook got %d, narrow filter %d requests; want none", n, m)
		}

		ids := map[string]string{} // type -> CloudEvents id, same for every webhook
		got := func(rc *receiver, key string) []string {
			var types []string
			for _, r := range rc.requests() {
				e := verify(t, r, key)
				types = append(types, e.Type)
				if id, seen := ids[e.Type]; seen && id != e.ID {
					t.Errorf("%s has id %s and %s", e.Type, id, e.ID)
				}
				ids[e.Type] = e.ID
				for _, s := range sent {
					if s.Type == e.Type && (s.Subject != e.Subject || !e.Time.Equal(s.Time) || !jsonEqual(s.Data, e.Data)) {
						t.Errorf("%s sent as %+v, was %+v", e.Type, e, s)
					}
				}
			}
			slices.Sort(types)
			return types
		}
		if types := got(all, secret); fmt.Sprint(types) != "[dev.moat.finding.new dev.moat.image.pushed dev.moat.registry.started dev.moat.scan.completed]" {
			t.Errorf("unfiltered webhook got %v", types)
		}
		if types := got(findings, "another-secret-of-16+"); fmt.Sprint(types) != "[dev.moat.finding.new]" {
			t.Errorf("finding.* webhook got %v", types)
		}
		if types := got(teamA, secret); fmt.Sprint(types) != "[dev.moat.image.pushed dev.moat.scan.completed]" {
			t.Errorf("team-a/* webhook got %v", types)
		}
		if len(ids) != 4 {
			t.Errorf("ids %v", ids)
		}

		logged(t, p.svc, "all", webhooks.Delivered)
		eventually(t, "the log of all four", func() bool { return len(deliveries(t, p.svc, "all")) == 4 })
		for _, d := range deliveries(t, p.svc, "all") {
			if d.Outcome != webhooks.Delivered || d.Attempt != 1 || d.StatusCode != 200 || d.Error != "" || d.EventID != ids[d.EventType] || d.Delivery == "" || d.Time.IsZero() {
				t.Errorf("log entry %+v", d)
			}
		}
		if n := testutil.ToFloat64(counter(t, reg, "delivered")); n != 7 {
			t.Errorf("moat_webhook_deliveries_total{outcome=delivered} = %v, want 7", n)
		}
	})
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

// counter finds the delivery counter of outcome among reg's metrics.
func counter(t *testing.T, reg *prometheus.Registry, outcome string) prometheus.Collector {
	t.Helper()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_webhook_deliveries_total", Help: "x"}, []string{"outcome"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "moat_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				c.WithLabelValues(outcome).Add(m.GetCounter().GetValue())
			}
		}
	}
	return c.WithLabelValues(outcome)
}

// Receivers that fail are retried by status: 5xx and 429 until they
// answer, honouring Retry-After; 410 and other 4xx never again.
func TestRetries(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		p := start(t, db, procOpts{})
		statuses := func(codes ...int) responder {
			return func(n int, w http.ResponseWriter, _ *http.Request) (int, string) {
				if n < len(codes) {
					w.Header().Set("Retry-After", "1")
					return codes[n], "not now"
				}
				return http.StatusOK, ""
			}
		}
		flaky := newReceiver(t, func(n int, _ http.ResponseWriter, _ *http.Request) (int, string) {
			return [...]int{500, 503, 200, 200}[min(n, 3)], ""
		})
		gone := newReceiver(t, statuses(410))
		bad := newReceiver(t, statuses(400))
		moved := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) (int, string) {
			w.Header().Set("Location", "https://elsewhere.example/")
			return http.StatusFound, ""
		})
		busy := newReceiver(t, statuses(429))
		for name, rc := range map[string]*receiver{"flaky": flaky, "gone": gone, "bad": bad, "moved": moved, "busy": busy} {
			p.create(t, webhooks.Webhook{Name: name, URL: rc.srv.URL, Repositories: []string{name + "/*"}})
			p.append(t, events.ImagePushed, name+"/app@sha256:1", map[string]any{"repository": name + "/app", "digest": "sha256:1"})
		}

		// Failing twice, then succeeding: delivered once, three attempts.
		ds := logged(t, p.svc, "flaky", webhooks.Delivered)
		var outcomes []string
		for _, d := range ds {
			outcomes = append(outcomes, fmt.Sprintf("%d:%s:%d", d.Attempt, d.Outcome, d.StatusCode))
			if d.Delivery != ds[0].Delivery {
				t.Errorf("attempts at one delivery with ids %s and %s", d.Delivery, ds[0].Delivery)
			}
		}
		if got := strings.Join(outcomes, " "); got != "3:delivered:200 2:retrying:503 1:retrying:500" {
			t.Errorf("flaky log %s", got)
		}
		if ds[1].NextAttemptAt.IsZero() || ds[1].NextAttemptAt.Before(ds[1].Time) {
			t.Errorf("retrying entry without its next attempt time: %+v", ds[1])
		}
		reqs := flaky.requests()
		if len(reqs) != 3 {
			t.Fatalf("flaky receiver got %d requests, want 3", len(reqs))
		}
		for _, r := range reqs[1:] {
			if !bytes.Equal(r.body, reqs[0].body) || r.header.Get("X-Moat-Delivery") != reqs[0].header.Get("X-Moat-Delivery") {
				t.Errorf("a retry differs from the first attempt: %s vs %s", r.body, reqs[0].body)
			}
		}

		for _, name := range []string{"gone", "bad", "moved"} {
			ds := logged(t, p.svc, name, webhooks.Failed)
			if len(ds) != 1 || ds[0].Attempt != 1 || !ds[0].NextAttemptAt.IsZero() {
				t.Errorf("%s: log %+v, want one failed attempt", name, ds)
			}
		}
		if ds := deliveries(t, p.svc, "gone"); ds[0].StatusCode != 410 || !strings.Contains(ds[0].Error, "not now") {
			t.Errorf("gone log %+v", ds[0])
		}
		if ds := deliveries(t, p.svc, "moved"); !strings.Contains(ds[0].Error, "redirects are not followed") {
			t.Errorf("redirect log %+v", ds[0])
		}

		// 429 with Retry-After: 1 waits a second, not the 100 ms backoff.
		ds = logged(t, p.svc, "busy", webhooks.Delivered)
		reqs = busy.requests()
		if len(ds) != 2 || len(reqs) != 2 {
			t.Fatalf("busy: %d attempts, %d requests", len(ds), len(reqs))
		}
		if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
			t.Errorf("retried %v after a Retry-After of 1 s", gap)
		}

		time.Sleep(300 * time.Millisecond)
		for name, rc := range map[string]*receiver{"gone": gone, "bad": bad, "moved": moved} {
			if n := len(rc.requests()); n != 1 {
				t.Errorf("%s got %d requests after a permanent failure", name, n)
			}
		}
		failed, err := p.queue.Failed(t.Context(), webhooks.DeliveryKind, 10)
		if err != nil || len(failed) != 3 {
			t.Errorf("failed delivery jobs: %d, %v; want 3", len(failed), err)
		}
	})
}

// A receiver down for longer than the retry window is retried until the
// window ends, and the delivery ends failed.
func TestRetriesEndAtDeadline(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		const window = 1500 * time.Millisecond
		p := start(t, db, procOpts{opts: []webhooks.Option{webhooks.WithRetryWindow(window),
			webhooks.WithBackoff(func(int) time.Duration { return 300 * time.Millisecond })}})
		down := newReceiver(t, nil)
		down.srv.Close() // nothing listens there any more
		p.create(t, webhooks.Webhook{Name: "down", URL: down.srv.URL})
		e := p.append(t, events.ImagePushed, "app@sha256:1", map[string]any{"repository": "app", "digest": "sha256:1"})

		ds := logged(t, p.svc, "down", webhooks.Failed)
		if len(ds) < 3 {
			t.Fatalf("%d attempts in %v with 300 ms backoff", len(ds), window)
		}
		deadline := e.Time.Add(window)
		if last := ds[0]; last.Time.Before(deadline) || last.StatusCode != 0 || !strings.Contains(last.Error, "retries ended") {
			t.Errorf("last attempt %+v; want one at or after %v", last, deadline)
		}
		for i, d := range ds[1:] {
			if d.Outcome != webhooks.Retrying || d.Error == "" || d.Attempt != len(ds)-1-i || d.NextAttemptAt.After(deadline) {
				t.Errorf("attempt %+v", d)
			}
		}
		time.Sleep(500 * time.Millisecond)
		if n := len(deliveries(t, p.svc, "down")); n != len(ds) {
			t.Errorf("%d attempts after the delivery failed, want none", n-len(ds))
		}
	})
}

// A delivery cut off mid-request by a stopping process, or claimed by
// one that then died, is delivered by the next process on the database.
func TestRedeliveryAfterRestart(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		inFlight := make(chan struct{})
		rc := newReceiver(t, func(n int, _ http.ResponseWriter, r *http.Request) (int, string) {
			if n == 0 {
				close(inFlight)
				<-r.Context().Done() // hang until the sender gives up
				return http.StatusServiceUnavailable, ""
			}
			return http.StatusOK, ""
		})
		first := start(t, db, procOpts{})
		first.create(t, webhooks.Webhook{Name: "hook", URL: rc.srv.URL})
		first.append(t, events.ImagePushed, "app@sha256:1", map[string]any{"repository": "app", "digest": "sha256:1"})
		<-inFlight
		first.halt() // the process stops mid-request

		second := start(t, db, procOpts{})
		ds := logged(t, second.svc, "hook", webhooks.Delivered)
		if len(ds) != 2 || ds[1].Outcome != webhooks.Retrying || !strings.Contains(ds[1].Error, "interrupted") || ds[0].Attempt != 2 || ds[0].Delivery != ds[1].Delivery {
			t.Fatalf("log after the restart: %+v", ds)
		}
		if n := len(rc.requests()); n != 2 {
			t.Errorf("receiver got %d requests, want the cut one and the delivery", n)
		}
		second.halt()

		// A worker claims the next delivery and dies before sending it:
		// once its lease runs out, another process delivers it.
		third := start(t, db, procOpts{noWorkers: true})
		third.append(t, events.ImagePushed, "app@sha256:2", map[string]any{"repository": "app", "digest": "sha256:2"})
		var claimed *jobs.Job
		eventually(t, "the delivery job", func() bool {
			var err error
			claimed, err = third.queue.Claim(t.Context(), webhooks.DeliveryKind, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return claimed != nil
		})
		third.halt()
		fourth := start(t, db, procOpts{})
		eventually(t, "the abandoned delivery logged", func() bool {
			ds = deliveries(t, fourth.svc, "hook")
			return len(ds) == 3
		})
		if len(rc.requests()) != 3 || ds[0].Outcome != webhooks.Delivered || ds[0].Attempt != 1 || ds[0].Delivery == ds[1].Delivery {
			t.Errorf("log after the abandoned claim: %+v", ds)
		}
	})
}
