package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// manualClock is a clock that moves only when told.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newRefusalLog(t *testing.T, opts ...Option) (*Log, *memStore, *manualClock) {
	t.Helper()
	st := &memStore{}
	clk := &manualClock{t: time.Date(2026, 6, 1, 12, 0, 5, 0, time.UTC)}
	l, err := New(st, append([]Option{WithClock(clk.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l, st, clk
}

func refused(source, resource string) Op {
	return Op{Actor: "invalid-token", Action: "auth:Authenticate", Resource: resource, SourceIP: source,
		Details: map[string]any{"path": "/v2/" + resource}, Err: Refuse(ResultDenied, ReasonInvalidToken, errors.New("bad signature"))}
}

// represented counts the refusals records stand for: one for each
// record of its own, "count" for each summary.
func represented(t *testing.T, recs []Record) (total int64, summaries int) {
	t.Helper()
	for _, r := range recs {
		var d struct {
			Aggregated bool
			Count      int64
		}
		if err := json.Unmarshal(r.Details, &d); err != nil {
			t.Fatalf("record %d details %s: %v", r.Seq, r.Details, err)
		}
		if d.Aggregated {
			total += d.Count
			summaries++
		} else {
			total++
		}
	}
	return total, summaries
}

func (m *memStore) records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.recs...)
}

// TestRefusalFloodAggregated: thousands of identical refused requests,
// concurrent, cost one record at once and one summary after the minute,
// whose count makes up the rest.
func TestRefusalFloodAggregated(t *testing.T) {
	l, st, clk := newRefusalLog(t)
	ctx := context.Background()
	const n = 5000
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range n / 8 {
				if err := l.Record(ctx, refused("10.0.0.9", "registry")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if recs := st.records(); len(recs) != 1 || recs[0].Result != ResultDenied {
		t.Fatalf("%d records during the flood, want the first only: %+v", len(recs), recs)
	}
	// The next minute: the first refusal there writes the last minute's
	// summary and itself.
	clk.add(time.Minute)
	if err := l.Record(ctx, refused("10.0.0.9", "registry")); err != nil {
		t.Fatal(err)
	}
	recs := st.records()
	if len(recs) != 3 {
		t.Fatalf("%d records after the minute, want first, summary, first of the new minute", len(recs))
	}
	var sum struct {
		Aggregated bool
		Count      int64
		Reason     string
		Start      string `json:"window_start"`
		End        string `json:"window_end"`
	}
	if err := json.Unmarshal(recs[1].Details, &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.Aggregated || sum.Count != n-1 || sum.Reason != ReasonInvalidToken || sum.Start != "2026-06-01T12:00:00Z" || sum.End != "2026-06-01T12:01:00Z" ||
		recs[1].Actor != "invalid-token" || recs[1].SourceIP != "10.0.0.9" || recs[1].Action != "auth:Authenticate" || recs[1].Result != ResultDenied {
		t.Errorf("summary %+v %s", recs[1], recs[1].Details)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if total, _ := represented(t, st.records()); total != n+1 {
		t.Errorf("records stand for %d refusals, want %d", total, n+1)
	}
}

// TestRefusalAggregationBounded: refusals from many sources for many
// resources fill the exact keys, then collapse per source, then into one
// bucket for all sources; memory stays bounded, records few, and the
// counts add up.
func TestRefusalAggregationBounded(t *testing.T) {
	const keys = 128 // two exact keys per source
	l, st, _ := newRefusalLog(t, WithRefusalKeys(keys))
	ctx := context.Background()
	const sources, resources = 1000, 10
	for s := range sources {
		for r := range resources {
			if err := l.Record(ctx, refused(fmt.Sprintf("10.1.%d.%d", s/256, s%256), fmt.Sprintf("repository/r%d", r))); err != nil {
				t.Fatal(err)
			}
		}
		l.refusals.mu.Lock()
		ex, co := len(l.refusals.exact), len(l.refusals.collapsed)
		l.refusals.mu.Unlock()
		if ex > keys || co > keys+1 {
			t.Fatalf("after %d sources: %d exact and %d collapsed buckets", s+1, ex, co)
		}
	}
	if got := len(st.records()); got != keys {
		t.Errorf("%d records written during the minute, want %d (the exact keys' first refusals)", got, keys)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	recs := st.records()
	total, summaries := represented(t, recs)
	if total != sources*resources {
		t.Errorf("records stand for %d refusals, want %d", total, sources*resources)
	}
	if summaries > keys+1 {
		t.Errorf("%d summaries", summaries)
	}
	last := recs[len(recs)-1]
	var d map[string]any
	_ = json.Unmarshal(last.Details, &d)
	if d["collapsed"] != true {
		t.Errorf("last summary is not collapsed: %+v %s", last, last.Details)
	}
	allSources := false
	for _, r := range recs {
		if r.SourceIP == "" && r.Actor == "*" {
			allSources = true
		}
	}
	if !allSources {
		t.Error("no summary for the sources beyond the bound")
	}
	t.Logf("%d refusals in %d records (%d summaries)", total, len(recs), summaries)
}

// TestRefusalSummaryOnTimer: the minute's summary is written when the
// minute ends without any further refusal.
func TestRefusalSummaryOnTimer(t *testing.T) {
	l, st, clk := newRefusalLog(t)
	ctx := context.Background()
	for range 3 {
		_ = l.Record(ctx, refused("10.0.0.1", "api"))
	}
	l.flushEndedRefusals() // early: the window has not ended
	if n := len(st.records()); n != 1 {
		t.Fatalf("%d records before the minute ended", n)
	}
	clk.add(time.Minute)
	l.flushEndedRefusals()
	if total, summaries := represented(t, st.records()); total != 3 || summaries != 1 {
		t.Errorf("after the minute: %d refusals in %d summaries", total, summaries)
	}
}

// TestOnlyRefusalsAggregated: successes and plain failures are each
// recorded, however alike.
func TestOnlyRefusalsAggregated(t *testing.T) {
	l, st, _ := newRefusalLog(t)
	ctx := context.Background()
	for range 5 {
		_ = l.Record(ctx, Op{Actor: "user:a", Action: "registry:Pull", Resource: "repository/x"})
		_ = l.Record(ctx, Op{Actor: "user:a", Action: "registry:Pull", Resource: "repository/x", Err: errors.New("manifest unknown")})
	}
	if n := len(st.records()); n != 10 {
		t.Errorf("%d records, want 10", n)
	}
	// After Close, refusals are written one by one.
	_ = l.Close(ctx)
	for range 3 {
		_ = l.Record(ctx, refused("10.0.0.1", "api"))
	}
	if n := len(st.records()); n != 13 {
		t.Errorf("%d records after Close, want 13", n)
	}
}

// TestRefusalFirstAppendFails: a refusal whose own record fails is
// counted in the summary instead.
func TestRefusalFirstAppendFails(t *testing.T) {
	l, st, _ := newRefusalLog(t)
	ctx := context.Background()
	st.mu.Lock()
	st.fail = errors.New("disk full")
	st.mu.Unlock()
	if err := l.Record(ctx, refused("10.0.0.1", "api")); err == nil {
		t.Fatal("failed append not reported")
	}
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	_ = l.Record(ctx, refused("10.0.0.1", "api"))
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if total, _ := represented(t, st.records()); total != 2 {
		t.Errorf("records stand for %d refusals, want 2", total)
	}
}
