package events_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
)

func newOutbox(t *testing.T, db *sqldb.DB) *events.Outbox {
	t.Helper()
	o, err := events.New(t.Context(), db, events.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func ev(t *testing.T, n int) events.Event {
	t.Helper()
	e, err := events.NewEvent(events.ImagePushed, fmt.Sprintf("app@%d", n), map[string]int{"n": n})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func numbers(t *testing.T, evs []events.Event) []int {
	t.Helper()
	var out []int
	for _, e := range evs {
		var d struct{ N int }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d.N)
	}
	return out
}

func TestAppendAndRead(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		o := newOutbox(t, db)
		head, err := o.Head(ctx)
		if err != nil || head != (events.Cursor{}) {
			t.Fatalf("Head of an empty outbox = %+v, %v", head, err)
		}
		for i := range 5 {
			if err := o.Append(ctx, ev(t, i)); err != nil {
				t.Fatal(err)
			}
		}
		// A rolled-back change leaves no event.
		rollback := errors.New("rollback")
		if err := db.Write(ctx, func(tx *sql.Tx) error {
			if err := o.AppendTx(ctx, tx, ev(t, 99)); err != nil {
				return err
			}
			return rollback
		}); !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		readAll(t, o, events.Cursor{}, 5) // wait until all are visible
		got, c, err := o.Read(ctx, events.Cursor{}, 3)
		if err != nil {
			t.Fatal(err)
		}
		rest, end, err := o.Read(ctx, c, 100)
		if err != nil {
			t.Fatal(err)
		}
		if all := numbers(t, append(got, rest...)); fmt.Sprint(all) != "[0 1 2 3 4]" {
			t.Fatalf("events read = %v", all)
		}
		if got[0].Type != events.ImagePushed || got[0].Subject != "app@0" || got[0].Time.IsZero() {
			t.Fatalf("first event = %+v", got[0])
		}
		if head, _ := o.Head(ctx); head != end {
			t.Fatalf("Head = %+v, want the last read cursor %+v", head, end)
		}
		if none, same, err := o.Read(ctx, end, 10); err != nil || len(none) != 0 || same != end {
			t.Fatalf("read past the end = %v, %+v, %v", none, same, err)
		}
		bad := []events.Event{{}, {Type: "x", Data: json.RawMessage(`[1]`)}, {Type: "x", Data: json.RawMessage(`{`)}}
		for _, e := range bad {
			if err := o.Append(ctx, e); !errors.Is(err, events.ErrInvalid) {
				t.Errorf("Append(%+v) = %v, want ErrInvalid", e, err)
			}
		}
	})
}

// On PostgreSQL a transaction that appended first but commits last must
// not be stepped over by a reader that already saw a later one.
func TestReadWaitsForEarlierTransactions(t *testing.T) {
	db := sqldbtest.Fresh(t, "postgres")
	ctx := t.Context()
	o := newOutbox(t, db)
	slow, err := db.W.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback()
	if err := o.AppendTx(ctx, slow, ev(t, 1)); err != nil {
		t.Fatal(err)
	}
	if err := o.Append(ctx, ev(t, 2)); err != nil {
		t.Fatal(err)
	}
	got, c, err := o.Read(ctx, events.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("read %v while an older transaction was open; its event could then be skipped", numbers(t, got))
	}
	if err := slow.Commit(); err != nil {
		t.Fatal(err)
	}
	// Transactions of other tests sharing the server can hold the
	// horizon back a moment longer.
	got = readAll(t, o, c, 2)
	if n := numbers(t, got); fmt.Sprint(n) != "[1 2]" {
		t.Fatalf("after the commit read %v, want [1 2]", n)
	}
}

// readAll reads from c until want events came or ten seconds passed: on
// PostgreSQL an event becomes visible once every older transaction on
// the server ended, including other tests'.
func readAll(t *testing.T, o *events.Outbox, c events.Cursor, want int) []events.Event {
	t.Helper()
	var got []events.Event
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		evs, next, err := o.Read(t.Context(), c, 100)
		if err != nil {
			t.Fatal(err)
		}
		got, c = append(got, evs...), next
		if len(got) < want {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return got
}

func TestConsumers(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		o := newOutbox(t, db)
		if err := o.Append(ctx, ev(t, -1)); err != nil { // before the consumers exist
			t.Fatal(err)
		}
		// A consumer starts at the head readers see: wait until that is
		// past event -1.
		if got := readAll(t, o, events.Cursor{}, 1); len(got) != 1 {
			t.Fatalf("event -1 never became visible")
		}
		// Two replicas run the same consumers; a failing batch is offered
		// again.
		var mu sync.Mutex
		var seen, history []int
		failed := false
		handle := func(_ context.Context, evs []events.Event) error {
			mu.Lock()
			defer mu.Unlock()
			ns := numbers(t, evs)
			if !failed && len(ns) > 0 && ns[0] >= 10 {
				failed = true
				return errors.New("transient")
			}
			seen = append(seen, ns...)
			return nil
		}
		replay := func(_ context.Context, evs []events.Event) error {
			mu.Lock()
			defer mu.Unlock()
			history = append(history, numbers(t, evs)...)
			return nil
		}
		var wg sync.WaitGroup
		for range 2 {
			r := newOutbox(t, db)
			wg.Go(func() {
				_ = r.Run(ctx, 20*time.Millisecond,
					events.Consumer{Name: "webhooks", Handle: handle, Batch: 7},
					events.Consumer{Name: "audit", Handle: replay, FromStart: true})
			})
		}
		// Give the consumers time to take their places at the head.
		time.Sleep(300 * time.Millisecond)
		for i := range 30 {
			if err := o.Append(ctx, ev(t, i)); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			n, h := len(seen), len(history)
			mu.Unlock()
			if n >= 30 && h >= 31 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("consumers got %d and %d events", n, h)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Everything is consumed: old events go, once the consumers'
		// cursors have moved past them.
		var purged int64
		for purged < 31 && time.Now().Before(deadline) {
			n, err := o.Purge(t.Context(), time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			purged += n
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		if purged != 31 {
			t.Fatalf("purged %d events, want all 31", purged)
		}
		want := make([]int, 30)
		for i := range want {
			want[i] = i
		}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Fatalf("webhooks consumer saw %v, want each of 0..29 once, in order", seen)
		}
		if fmt.Sprint(history) != fmt.Sprint(append([]int{-1}, want...)) {
			t.Fatalf("from-start consumer saw %v", history)
		}

		// Ids are never reused after the newest rows are deleted, so the
		// consumers' cursors stay behind new events.
		if err := o.Append(t.Context(), ev(t, 100)); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, o, events.Cursor{}, 1)
		if len(got) != 1 {
			t.Fatalf("after purge: %v", got)
		}
		head, _ := o.Head(t.Context())
		if got[0].ID <= 31 && db.Engine() == sqldb.SQLite {
			t.Fatalf("event id %d reused after purge (head %+v)", got[0].ID, head)
		}
	})
}

// Purge keeps what a consumer has not handled yet.
func TestPurgeKeepsUnconsumed(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx, cancel := context.WithCancel(t.Context())
		o := newOutbox(t, db)
		block := make(chan struct{})
		started := make(chan struct{}, 1)
		done := make(chan struct{})
		go func() {
			_ = o.Run(ctx, 10*time.Millisecond, events.Consumer{Name: "slow", FromStart: true, Batch: 1, Handle: func(ctx context.Context, _ []events.Event) error {
				select {
				case started <- struct{}{}:
				default:
				}
				select {
				case <-block:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}})
			close(done)
		}()
		for i := range 3 {
			if err := o.Append(ctx, ev(t, i)); err != nil {
				t.Fatal(err)
			}
		}
		<-started
		if n, err := o.Purge(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 0 {
			t.Fatalf("Purge with an unconsumed backlog = %d, %v", n, err)
		}
		cancel()
		<-done
	})
}
