package webhooks_test

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
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/webhooks"
)

var quiet = slog.New(slog.DiscardHandler)

const secret = "s3cret-for-tests-0123"

// process is one moat process's share of webhook delivery: an outbox
// consumer and delivery workers on a shared database.
type process struct {
	outbox *events.Outbox
	queue  *jobs.Queue
	svc    *webhooks.Service
	stop   context.CancelFunc
	done   chan struct{}
}

type procOpts struct {
	noWorkers bool
	opts      []webhooks.Option
}

// start runs a process until stop or the end of the test. Its consumer
// reads the outbox from the start, so events appended before it runs
// are not missed; retries are 100 ms apart.
func start(t *testing.T, db *sqldb.DB, po procOpts) *process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outbox, err := events.New(ctx, db, events.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	q, err := jobs.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]webhooks.Option{
		webhooks.WithLogger(quiet), webhooks.WithTimeout(5 * time.Second), webhooks.WithSource("https://registry.example"),
		webhooks.WithBackoff(func(int) time.Duration { return 100 * time.Millisecond }),
	}, po.opts...)
	svc, err := webhooks.New(ctx, db, q, opts...)
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
	p := &process{outbox: outbox, queue: q, svc: svc, stop: cancel, done: make(chan struct{})}
	c := svc.Consumer()
	c.FromStart = true
	var wg sync.WaitGroup
	wg.Go(func() { _ = outbox.Run(ctx, 20*time.Millisecond, c) })
	if !po.noWorkers {
		wg.Go(func() { r.Run(ctx) })
	}
	go func() { wg.Wait(); close(p.done) }()
	t.Cleanup(p.halt)
	return p
}

// halt stops the process and waits for it.
func (p *process) halt() {
	p.stop()
	<-p.done
}

func (p *process) create(t *testing.T, w webhooks.Webhook) {
	t.Helper()
	if w.Secret == "" {
		w.Secret = secret
	}
	w.Enabled = true
	if _, err := p.svc.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
}

func (p *process) append(t *testing.T, typ, subject string, data map[string]any) events.Event {
	t.Helper()
	e, err := events.NewEvent(typ, subject, data)
	if err != nil {
		t.Fatal(err)
	}
	e.Time = time.Now().UTC()
	if err := p.outbox.Append(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

// request is what a receiver got.
type request struct {
	at     time.Time
	header http.Header
	body   []byte
	status int
}

// receiver is a webhook endpoint that answers with respond(n) for its
// n-th request (from 0), which may set headers and returns the status
// and body, and records every request.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []request
	respond responder
}

type responder func(n int, w http.ResponseWriter, r *http.Request) (int, string)

func newReceiver(t *testing.T, respond responder) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	if rc.respond == nil {
		rc.respond = func(int, http.ResponseWriter, *http.Request) (int, string) { return http.StatusOK, "" }
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, request{at: time.Now(), header: r.Header.Clone(), body: body})
		rc.mu.Unlock()
		status, text := rc.respond(n, w, r)
		rc.mu.Lock()
		rc.got[n].status = status
		rc.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, text)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

// eventually waits up to 20 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ce is a CloudEvents structured-mode body.
type ce struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// verify checks a request is a valid, correctly signed CloudEvent and
// returns it.
func verify(t *testing.T, r request, key string) ce {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("Content-Type %q", ct)
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(r.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(r.header.Get("X-Moat-Signature")), []byte(want)) {
		t.Errorf("X-Moat-Signature %q, want %q", r.header.Get("X-Moat-Signature"), want)
	}
	var e ce
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if e.SpecVersion != "1.0" || e.ID == "" || e.Source != "https://registry.example" || e.Type == "" ||
		e.Time.IsZero() || e.DataContentType != "application/json" || len(e.Data) == 0 || e.Data[0] != '{' {
		t.Errorf("not a CloudEvent as sent by moat: %s", r.body)
	}
	if r.header.Get("X-Moat-Event") != e.Type || r.header.Get("X-Moat-Delivery") == "" {
		t.Errorf("headers %v for event %s", r.header, e.Type)
	}
	return e
}

// deliveries returns a webhook's whole log, newest first.
func deliveries(t *testing.T, svc *webhooks.Service, name string) []webhooks.Delivery {
	t.Helper()
	ds, _, err := svc.Deliveries(t.Context(), name, webhooks.DeliveryFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// logged waits until the newest log entry of name has outcome o.
func logged(t *testing.T, svc *webhooks.Service, name string, o webhooks.Outcome) []webhooks.Delivery {
	t.Helper()
	var ds []webhooks.Delivery
	eventually(t, name+" logged "+string(o), func() bool {
		ds = deliveries(t, svc, name)
		return len(ds) > 0 && ds[0].Outcome == o
	})
	return ds
}
