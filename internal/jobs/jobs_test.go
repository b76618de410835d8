package jobs_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
)

// clock is a settable time source shared by queues in a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newQueue(t *testing.T, db *sqldb.DB, c *clock, owner string) *jobs.Queue {
	t.Helper()
	opts := []jobs.Option{jobs.WithOwner(owner)}
	if c != nil {
		opts = append(opts, jobs.WithClock(c.Now))
	}
	q, err := jobs.New(t.Context(), db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func mustEnqueue(t *testing.T, q *jobs.Queue, j jobs.Job) int64 {
	t.Helper()
	id, queued, err := q.Enqueue(t.Context(), j)
	if err != nil || !queued {
		t.Fatalf("Enqueue(%+v) = %d, %v, %v", j, id, queued, err)
	}
	return id
}

func claim(t *testing.T, q *jobs.Queue, kind string) *jobs.Job {
	t.Helper()
	j, err := q.Claim(t.Context(), kind, time.Minute)
	if err != nil {
		t.Fatalf("Claim(%s): %v", kind, err)
	}
	return j
}

func TestQueue(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		c := newClock()
		q := newQueue(t, db, c, "a")
		ctx := t.Context()

		t.Run("dedupe while queued", func(t *testing.T) {
			first := mustEnqueue(t, q, jobs.Job{Kind: "scan", Key: "sha256:1", Payload: json.RawMessage(`{"d":1}`)})
			if id, queued, err := q.Enqueue(ctx, jobs.Job{Kind: "scan", Key: "sha256:1"}); err != nil || queued || id != 0 {
				t.Fatalf("duplicate Enqueue = %d, %v, %v; want a no-op", id, queued, err)
			}
			mustEnqueue(t, q, jobs.Job{Kind: "other", Key: "sha256:1"}) // another kind is other work
			j := claim(t, q, "scan")
			if j == nil || j.ID != first || j.Attempts != 1 || string(j.Payload) != `{"d":1}` {
				t.Fatalf("Claim = %+v", j)
			}
			// While it runs, the same work may be queued once more.
			second := mustEnqueue(t, q, jobs.Job{Kind: "scan", Key: "sha256:1"})
			if j2 := claim(t, q, "scan"); j2 == nil || j2.ID != second {
				t.Fatalf("Claim of the successor = %+v", j2)
			}
			if err := q.Complete(ctx, j); err != nil {
				t.Fatal(err)
			}
			if j := claim(t, q, "scan"); j != nil {
				t.Fatalf("Claim after both claimed = %+v", j)
			}
			if j := claim(t, q, "other"); j == nil {
				t.Fatal("other kind not claimable")
			} else if err := q.Complete(ctx, j); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("order and run_at", func(t *testing.T) {
			later := mustEnqueue(t, q, jobs.Job{Kind: "ordered", RunAt: c.Now().Add(time.Hour)})
			a := mustEnqueue(t, q, jobs.Job{Kind: "ordered"})
			c.Advance(time.Millisecond)
			b := mustEnqueue(t, q, jobs.Job{Kind: "ordered"})
			for _, want := range []int64{a, b} {
				j := claim(t, q, "ordered")
				if j == nil || j.ID != want {
					t.Fatalf("Claim = %+v, want job %d", j, want)
				}
				if err := q.Complete(ctx, j); err != nil {
					t.Fatal(err)
				}
			}
			if j := claim(t, q, "ordered"); j != nil {
				t.Fatalf("claimed %d before its time", j.ID)
			}
			c.Advance(time.Hour)
			if j := claim(t, q, "ordered"); j == nil || j.ID != later {
				t.Fatalf("Claim after run_at = %+v", j)
			}
		})

		t.Run("expired lease is claimed again", func(t *testing.T) {
			other := newQueue(t, db, c, "b")
			id := mustEnqueue(t, q, jobs.Job{Kind: "lease"})
			j := claim(t, q, "lease")
			if j2 := claim(t, other, "lease"); j2 != nil {
				t.Fatalf("leased job claimed by another worker: %+v", j2)
			}
			c.Advance(2 * time.Minute)
			j2 := claim(t, other, "lease")
			if j2 == nil || j2.ID != id || j2.Attempts != 2 {
				t.Fatalf("Claim after lease expiry = %+v", j2)
			}
			if err := q.Complete(ctx, j); !errors.Is(err, jobs.ErrLeaseLost) {
				t.Fatalf("Complete by the old owner = %v, want ErrLeaseLost", err)
			}
			if err := q.Extend(ctx, j, time.Minute); !errors.Is(err, jobs.ErrLeaseLost) {
				t.Fatalf("Extend by the old owner = %v, want ErrLeaseLost", err)
			}
			if err := other.Complete(ctx, j2); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("retry, attempts and deadline", func(t *testing.T) {
			mustEnqueue(t, q, jobs.Job{Kind: "flaky", MaxAttempts: 2})
			j := claim(t, q, "flaky")
			again, err := q.Retry(ctx, j, errors.New("boom 1"), c.Now().Add(time.Minute))
			if err != nil || !again {
				t.Fatalf("Retry = %v, %v", again, err)
			}
			if j := claim(t, q, "flaky"); j != nil {
				t.Fatal("retried before its backoff")
			}
			c.Advance(time.Minute)
			j = claim(t, q, "flaky")
			if j == nil || j.Attempts != 2 || j.LastError != "boom 1" {
				t.Fatalf("second attempt = %+v", j)
			}
			if again, err := q.Retry(ctx, j, errors.New("boom 2"), c.Now()); err != nil || again {
				t.Fatalf("Retry out of attempts = %v, %v", again, err)
			}
			failed, err := q.Failed(ctx, "flaky", 10)
			if err != nil || len(failed) != 1 || failed[0].LastError != "boom 2" {
				t.Fatalf("Failed = %+v, %v", failed, err)
			}

			mustEnqueue(t, q, jobs.Job{Kind: "deadline", GiveUpAt: c.Now().Add(30 * time.Second)})
			j = claim(t, q, "deadline")
			if again, err := q.Retry(ctx, j, errors.New("late"), c.Now().Add(time.Minute)); err != nil || again {
				t.Fatalf("Retry past the deadline = %v, %v", again, err)
			}
			c.Advance(24 * time.Hour)
			if n, err := q.PurgeFailed(ctx, c.Now()); err != nil || n != 2 {
				t.Fatalf("PurgeFailed = %d, %v", n, err)
			}
		})

		t.Run("release refunds the attempt", func(t *testing.T) {
			mustEnqueue(t, q, jobs.Job{Kind: "release", MaxAttempts: 1})
			j := claim(t, q, "release")
			if err := q.Release(ctx, j); err != nil {
				t.Fatal(err)
			}
			j = claim(t, q, "release")
			if j == nil || j.Attempts != 1 {
				t.Fatalf("after release: %+v", j)
			}
			if err := q.Complete(ctx, j); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("a retried job meets its queued twin", func(t *testing.T) {
			mustEnqueue(t, q, jobs.Job{Kind: "twin", Key: "k"})
			j := claim(t, q, "twin")
			mustEnqueue(t, q, jobs.Job{Kind: "twin", Key: "k"})
			if again, err := q.Retry(ctx, j, errors.New("x"), c.Now()); err != nil || !again {
				t.Fatalf("Retry with a twin = %v, %v", again, err)
			}
			n := 0
			for j := claim(t, q, "twin"); j != nil; j = claim(t, q, "twin") {
				n++
				if err := q.Complete(ctx, j); err != nil {
					t.Fatal(err)
				}
			}
			if n != 1 {
				t.Fatalf("%d jobs ran for one key, want 1", n)
			}
		})

		t.Run("enqueue inside a transaction", func(t *testing.T) {
			rollback := errors.New("rollback")
			err := db.Write(ctx, func(tx *sql.Tx) error {
				if _, _, err := q.EnqueueTx(ctx, tx, jobs.Job{Kind: "tx"}); err != nil {
					return err
				}
				return rollback
			})
			if !errors.Is(err, rollback) {
				t.Fatal(err)
			}
			if j := claim(t, q, "tx"); j != nil {
				t.Fatalf("job of a rolled-back transaction exists: %+v", j)
			}
			if err := db.Write(ctx, func(tx *sql.Tx) error {
				_, _, err := q.EnqueueTx(ctx, tx, jobs.Job{Kind: "tx"})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if j := claim(t, q, "tx"); j == nil {
				t.Fatal("job of a committed transaction missing")
			}
		})

		t.Run("bad input", func(t *testing.T) {
			for _, j := range []jobs.Job{{}, {Kind: "x", Payload: json.RawMessage("{")}, {Kind: "x", MaxAttempts: -1}} {
				if _, _, err := q.Enqueue(ctx, j); !errors.Is(err, jobs.ErrInvalid) {
					t.Errorf("Enqueue(%+v) = %v, want ErrInvalid", j, err)
				}
			}
			if _, err := q.Claim(ctx, "x", 0); !errors.Is(err, jobs.ErrInvalid) {
				t.Errorf("Claim with zero lease = %v", err)
			}
		})
	})
}

// Workers of several "replicas" share one queue: every job runs exactly
// once when nothing fails.
func TestConcurrentClaims(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		const n = 200
		q := newQueue(t, db, nil, "seed")
		for i := range n {
			mustEnqueue(t, q, jobs.Job{Kind: "work", Key: fmt.Sprint(i)})
		}
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for w := range 8 {
			rq := newQueue(t, db, nil, fmt.Sprintf("replica-%d", w%2))
			wg.Go(func() {
				for {
					j, err := rq.Claim(t.Context(), "work", time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if j == nil {
						return
					}
					mu.Lock()
					seen[j.ID]++
					mu.Unlock()
					if err := rq.Complete(t.Context(), j); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("%d distinct jobs ran, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("job %d ran %d times", id, k)
			}
		}
	})
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestRunner(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		q := newQueue(t, db, nil, "runner")
		r, err := jobs.NewRunner(q, jobs.WithLogger(quiet()), jobs.WithPollInterval(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan string, 10)
		var flaky atomic.Int32
		fast := func(int) time.Duration { return 10 * time.Millisecond }
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(r.Handle("echo", jobs.Kind{Workers: 2, Handler: func(_ context.Context, j *jobs.Job) error {
			var p struct{ Msg string }
			if err := j.Decode(&p); err != nil {
				return jobs.Permanent(err)
			}
			done <- p.Msg
			return nil
		}}))
		must(r.Handle("flaky", jobs.Kind{Backoff: fast, Handler: func(context.Context, *jobs.Job) error {
			if flaky.Add(1) < 3 {
				return errors.New("not yet")
			}
			done <- "flaky done"
			return nil
		}}))
		must(r.Handle("panics", jobs.Kind{Backoff: fast, Handler: func(context.Context, *jobs.Job) error { panic("bad job") }}))
		must(r.Handle("permanent", jobs.Kind{Handler: func(context.Context, *jobs.Job) error {
			return jobs.Permanent(errors.New("cannot work"))
		}}))
		if err := r.Handle("echo", jobs.Kind{Handler: func(context.Context, *jobs.Job) error { return nil }}); !errors.Is(err, jobs.ErrInvalid) {
			t.Fatalf("second registration of a kind = %v", err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() { r.Run(ctx); close(stopped) }()
		// The poll interval is an hour: only Enqueue's wake-up gets these
		// jobs running promptly.
		mustEnqueue(t, q, jobs.Job{Kind: "echo", Payload: json.RawMessage(`{"Msg":"hello"}`)})
		mustEnqueue(t, q, jobs.Job{Kind: "flaky"})
		mustEnqueue(t, q, jobs.Job{Kind: "panics", MaxAttempts: 2})
		mustEnqueue(t, q, jobs.Job{Kind: "permanent"})
		got := map[string]bool{}
		for len(got) < 2 {
			select {
			case m := <-done:
				got[m] = true
			case <-time.After(20 * time.Second):
				t.Fatalf("jobs done so far: %v", got)
			}
		}
		if !got["hello"] || !got["flaky done"] {
			t.Fatalf("done = %v", got)
		}
		// The panicking and the permanent job end failed, not retried forever.
		deadline := time.Now().Add(20 * time.Second)
		for {
			failed, err := q.Failed(t.Context(), "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(failed) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("failed jobs = %+v", failed)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-stopped
	})
}

// A handler still running at shutdown hands its job back, and the next
// runner (the restarted process) does it.
func TestRunnerReleasesOnShutdown(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		q := newQueue(t, db, nil, "first")
		r, _ := jobs.NewRunner(q, jobs.WithLogger(quiet()))
		started := make(chan struct{})
		if err := r.Handle("slow", jobs.Kind{Handler: func(ctx context.Context, _ *jobs.Job) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}}); err != nil {
			t.Fatal(err)
		}
		mustEnqueue(t, q, jobs.Job{Kind: "slow", MaxAttempts: 1})
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() { r.Run(ctx); close(stopped) }()
		<-started
		cancel()
		<-stopped

		q2 := newQueue(t, db, nil, "second")
		j := claim(t, q2, "slow")
		if j == nil || j.Attempts != 1 {
			t.Fatalf("after shutdown the job is %+v, want it claimable again on its first attempt", j)
		}
	})
}

// Two replicas tick the same schedule: each period's job is enqueued once.
func TestEveryOncePerCluster(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		var runs atomic.Int32
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for i := range 2 {
			q := newQueue(t, db, nil, fmt.Sprint("replica-", i))
			r, _ := jobs.NewRunner(q, jobs.WithLogger(quiet()), jobs.WithPollInterval(50*time.Millisecond))
			if err := r.Handle("gc", jobs.Kind{Handler: func(context.Context, *jobs.Job) error { runs.Add(1); return nil }}); err != nil {
				t.Fatal(err)
			}
			if err := r.Every("gc-hourly", time.Hour, jobs.Job{Kind: "gc"}); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() { r.Run(ctx) })
		}
		time.Sleep(2500 * time.Millisecond) // both replicas tick at least twice
		cancel()
		wg.Wait()
		if n := runs.Load(); n != 1 {
			t.Fatalf("the hourly job ran %d times in one period across two replicas, want 1", n)
		}
	})
}
