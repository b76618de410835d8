package webhooks_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
	"github.com/moat-dev/moat/internal/webhooks"
)

func newService(t *testing.T, db *sqldb.DB, opts ...webhooks.Option) *webhooks.Service {
	t.Helper()
	q, err := jobs.New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := webhooks.New(t.Context(), db, q, append([]webhooks.Option{webhooks.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestStore(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		svc := newService(t, db)
		in := webhooks.Webhook{Name: "ci", URL: "https://hooks.example/ci", Secret: secret, Events: []string{"dev.moat.scan.*"}, Repositories: []string{"team-a/*"}, Enabled: true}
		w, err := svc.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if w.Secret != "" || w.Source != webhooks.SourceAPI || w.CreatedAt.IsZero() || w.Name != "ci" || w.URL != in.URL || !w.Enabled {
			t.Errorf("created %+v", w)
		}
		if _, err := svc.Create(ctx, in); !errors.Is(err, webhooks.ErrExists) {
			t.Errorf("second create: %v", err)
		}
		bad := in
		bad.Name, bad.URL, bad.Secret = "Bad Name", "gopher://x", "short"
		err = func() error { _, err := svc.Create(ctx, bad); return err }()
		if !errors.Is(err, webhooks.ErrInvalid) || !strings.Contains(err.Error(), "name") || !strings.Contains(err.Error(), "scheme") || !strings.Contains(err.Error(), "secret") {
			t.Errorf("create invalid: %v; want every problem named", err)
		}

		url, off, repos := "https://hooks.example/v2", false, []string{}
		got, err := svc.Update(ctx, "ci", webhooks.Change{URL: &url, Enabled: &off, Repositories: &repos})
		if err != nil {
			t.Fatal(err)
		}
		if got.URL != url || got.Enabled || len(got.Repositories) != 0 || len(got.Events) != 1 || got.Secret != "" || !got.UpdatedAt.After(got.CreatedAt) {
			t.Errorf("updated %+v", got)
		}
		badURL := "https://u:p@hooks.example/"
		if _, err := svc.Update(ctx, "ci", webhooks.Change{URL: &badURL}); !errors.Is(err, webhooks.ErrInvalid) {
			t.Errorf("update with a bad url: %v", err)
		}
		if w, _ := svc.Get(ctx, "ci"); w.URL != url {
			t.Errorf("a refused update changed the webhook: %+v", w)
		}
		if _, err := svc.Update(ctx, "nope", webhooks.Change{URL: &url}); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("update unknown: %v", err)
		}

		// The configuration file's webhooks: created, taken over, guarded,
		// and removed when gone from the file.
		cfg := []webhooks.Webhook{
			{Name: "from-file", URL: "http://receiver.internal:8080/", Secret: secret, Enabled: true},
			{Name: "ci", URL: "https://hooks.example/file", Secret: secret, Enabled: true},
		}
		if err := svc.SyncConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		list, err := svc.List(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("list %+v, %v", list, err)
		}
		for _, w := range list {
			if w.Source != webhooks.SourceConfig || w.Secret != "" || !w.Enabled {
				t.Errorf("configured webhook %+v", w)
			}
		}
		before, _ := svc.Get(ctx, "from-file")
		if err := svc.SyncConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if after, _ := svc.Get(ctx, "from-file"); !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("an unchanged file rewrote the webhook: %v, then %v", before.UpdatedAt, after.UpdatedAt)
		}
		if _, err := svc.Update(ctx, "from-file", webhooks.Change{URL: &url}); !errors.Is(err, webhooks.ErrManaged) || !strings.Contains(err.Error(), "configuration file") {
			t.Errorf("update a configured webhook: %v", err)
		}
		if err := svc.Delete(ctx, "ci"); !errors.Is(err, webhooks.ErrManaged) {
			t.Errorf("delete a configured webhook: %v", err)
		}
		if err := svc.SyncConfig(ctx, append(cfg, cfg[0])); !errors.Is(err, webhooks.ErrInvalid) {
			t.Errorf("a name configured twice: %v", err)
		}
		if err := svc.SyncConfig(ctx, []webhooks.Webhook{{Name: "x", URL: "ftp://x", Secret: secret}}); !errors.Is(err, webhooks.ErrInvalid) || !strings.Contains(err.Error(), `"x"`) {
			t.Errorf("an invalid configured webhook: %v", err)
		}
		if err := svc.SyncConfig(ctx, cfg[:1]); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Get(ctx, "ci"); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("webhook removed from the file: %v", err)
		}

		if _, err := svc.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := svc.Delete(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		if err := svc.Delete(ctx, "ci"); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})
}

func TestNewOptions(t *testing.T) {
	db := sqldbtest.Fresh(t, "sqlite")
	q, err := jobs.New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]webhooks.Option{
		"retention within the window": webhooks.WithRetention(time.Hour),
		"empty source":                webhooks.WithSource(""),
		"no workers":                  webhooks.WithWorkers(0),
		"zero timeout":                webhooks.WithTimeout(0),
	} {
		if _, err := webhooks.New(t.Context(), db, q, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The log pages newest first and filters by outcome; Purge empties it
// after the retention; a test ping reaches even a disabled webhook.
func TestDeliveryLogAndPing(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		p := start(t, db, procOpts{})
		rc := newReceiver(t, nil)
		p.create(t, webhooks.Webhook{Name: "hook", URL: rc.srv.URL})
		for range 5 {
			p.append(t, events.ImagePushed, "app@sha256:1", map[string]any{"repository": "app"})
		}
		eventually(t, "five deliveries", func() bool { return len(deliveries(t, p.svc, "hook")) == 5 })

		var pages [][]webhooks.Delivery
		f := webhooks.DeliveryFilter{Limit: 2}
		for {
			ds, next, err := p.svc.Deliveries(ctx, "hook", f)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, ds)
			if next == 0 {
				break
			}
			f.Before = next
		}
		if len(pages) != 3 || len(pages[0]) != 2 || len(pages[1]) != 2 || len(pages[2]) != 1 {
			t.Fatalf("pages %v", pages)
		}
		var last int64 = 1 << 62
		events := map[string]bool{}
		for _, pg := range pages {
			for _, d := range pg {
				if d.ID >= last {
					t.Errorf("log not newest first: %d after %d", d.ID, last)
				}
				last = d.ID
				events[d.EventID] = true
			}
		}
		if len(events) != 5 {
			t.Errorf("%d distinct events in the log, want 5", len(events))
		}
		for o, want := range map[webhooks.Outcome]int{webhooks.Delivered: 5, webhooks.Failed: 0} {
			if ds, _, err := p.svc.Deliveries(ctx, "hook", webhooks.DeliveryFilter{Outcome: o}); err != nil || len(ds) != want {
				t.Errorf("outcome %s: %d, %v", o, len(ds), err)
			}
		}
		for _, f := range []webhooks.DeliveryFilter{{Outcome: "lost"}, {Limit: 501}, {Before: -1}} {
			if _, _, err := p.svc.Deliveries(ctx, "hook", f); !errors.Is(err, webhooks.ErrInvalid) {
				t.Errorf("filter %+v: %v", f, err)
			}
		}
		if _, _, err := p.svc.Deliveries(ctx, "nope", webhooks.DeliveryFilter{}); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("log of an unknown webhook: %v", err)
		}

		off := false
		if _, err := p.svc.Update(ctx, "hook", webhooks.Change{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		id, err := p.svc.SendTest(ctx, "hook")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the ping", func() bool { return len(rc.requests()) == 6 })
		ping := rc.requests()[5]
		if e := verify(t, ping, secret); e.Type != webhooks.TestEvent || e.Subject != "webhook/hook" || ping.header.Get("X-Moat-Delivery") != id {
			t.Errorf("ping %+v with headers %v", e, ping.header)
		}
		if _, err := p.svc.SendTest(ctx, "nope"); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("ping an unknown webhook: %v", err)
		}
		eventually(t, "the ping logged", func() bool { return len(deliveries(t, p.svc, "hook")) == 6 })

		later := newService(t, db, webhooks.WithClock(func() time.Time { return time.Now().Add(15 * 24 * time.Hour) }))
		if n, err := later.Purge(ctx); err != nil || n != 6 {
			t.Errorf("Purge after the retention = %d, %v; want 6", n, err)
		}
		if n, err := p.svc.Purge(ctx); err != nil || n != 0 {
			t.Errorf("Purge within the retention = %d, %v", n, err)
		}
		if ds := deliveries(t, p.svc, "hook"); len(ds) != 0 {
			t.Errorf("log after purge %+v", ds)
		}
	})
}

func TestFromConfig(t *testing.T) {
	off := false
	cs := []config.Webhook{
		{Name: "a", URL: "https://h.example/", SecretEnv: "HOOK", Events: []string{"dev.moat.finding.*"}},
		{Name: "b", URL: "https://h.example/", Secret: secret, Repositories: []string{"x/*"}, Enabled: &off},
	}
	lookup := func(k string) (string, bool) { return map[string]string{"HOOK": "from-env-0123456789"}[k], k == "HOOK" }
	hooks, err := webhooks.FromConfig(cs, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := hooks[0], hooks[1]; a.Secret != "from-env-0123456789" || !a.Enabled || a.Events[0] != "dev.moat.finding.*" || b.Enabled || b.Repositories[0] != "x/*" {
		t.Errorf("converted %+v", hooks)
	}
	if _, err := webhooks.FromConfig(cs, func(string) (string, bool) { return "", false }); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("unset secret variable: %v", err)
	}
}
