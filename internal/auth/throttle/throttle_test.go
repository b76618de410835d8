package throttle

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b, err := NewBackoff(Rule{Free: 3, Base: time.Second, Max: 8 * time.Second, Forget: time.Minute, Entries: 10})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2 {
		b.Fail("k", now)
		if w := b.Wait("k", now); w != 0 {
			t.Fatalf("held back %v after %d failures", w, i+1)
		}
	}
	for _, want := range []time.Duration{1, 2, 4, 8, 8} {
		b.Fail("k", now)
		if w := b.Wait("k", now); w != want*time.Second {
			t.Errorf("held back %v, want %v", w, want*time.Second)
		}
	}
	if w := b.Wait("other", now); w != 0 {
		t.Errorf("another key held back %v", w)
	}
	if w := b.Wait("k", now.Add(8*time.Second)); w != 0 {
		t.Errorf("still held back after the delay: %v", w)
	}
	// Quiet for longer than Forget: a fresh start.
	later := now.Add(2 * time.Minute)
	b.Fail("k", later)
	if w := b.Wait("k", later); w != 0 {
		t.Errorf("not forgotten: %v", w)
	}
	if _, err := NewBackoff(Rule{Free: 0, Base: time.Second, Max: time.Second, Forget: time.Hour, Entries: 1}); err == nil {
		t.Error("Free 0 accepted")
	}
	b.Fail("k", later)
	b.Fail("k", later)
	b.Fail("k", later)
	b.Reset("k")
	if w := b.Wait("k", later); w != 0 {
		t.Errorf("held back after Reset: %v", w)
	}
	if _, err := NewBackoff(Rule{Free: 1, Base: time.Minute, Max: time.Second, Forget: time.Hour, Entries: 1}); err == nil {
		t.Error("Max below Base accepted")
	}
}

// TestBackoffBounded: the keys tracked never exceed the bound; keys held
// back survive a flood of new ones.
func TestBackoffBounded(t *testing.T) {
	b, _ := NewBackoff(Rule{Free: 1, Base: time.Minute, Max: time.Minute, Forget: time.Hour, Entries: 100})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Fail("victim-attacker", now)
	b2, _ := NewBackoff(Rule{Free: 5, Base: time.Minute, Max: time.Minute, Forget: time.Hour, Entries: 100})
	for i := range 10000 {
		b.Fail(fmt.Sprint("flood-", i), now)
		b2.Fail(fmt.Sprint("flood-", i), now)
	}
	if len(b.keys) > 100 || len(b2.keys) > 100 {
		t.Errorf("%d and %d keys tracked, bound 100", len(b.keys), len(b2.keys))
	}
	if b.Wait("victim-attacker", now) == 0 {
		t.Error("a held-back key was evicted by a flood")
	}
}

// TestPoolRefusesExcess: a source beyond its share, and anyone beyond the
// queue, is refused at once.
func TestPoolRefusesExcess(t *testing.T) {
	p, err := NewPool(PoolLimits{Workers: 1, PerSource: 2, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	block := make(chan struct{})
	running := make(chan struct{})
	var wg sync.WaitGroup
	start := func(src netip.Addr) {
		wg.Go(func() {
			if err := p.Do(context.Background(), src, func() { running <- struct{}{}; <-block }); err != nil {
				t.Error(err)
			}
		})
	}
	start(a)
	<-running // a holds the only worker
	start(a)  // a queues its second
	waitQueued(t, p, 1)
	if err := p.Do(context.Background(), a, func() {}); !errors.Is(err, ErrBusy) {
		t.Errorf("third run of one source: %v", err)
	}
	start(b)
	waitQueued(t, p, 2)
	if err := p.Do(context.Background(), c, func() {}); !errors.Is(err, ErrBusy) {
		t.Errorf("run beyond the queue: %v", err)
	}
	close(block)
	go func() {
		for range running {
		}
	}()
	wg.Wait()
	close(running)
	if p.free != 1 || len(p.pending) != 0 || p.queued != 0 || len(p.ring) != 0 {
		t.Errorf("pool not back at rest: free %d pending %v queued %d ring %v", p.free, p.pending, p.queued, p.ring)
	}
}

// TestPoolRoundRobin: a source that queued late is served before a
// flooding source's later runs.
func TestPoolRoundRobin(t *testing.T) {
	p, _ := NewPool(PoolLimits{Workers: 1, PerSource: 10, Queue: 20})
	flood, user := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("192.0.2.9")
	gate := make(chan struct{})
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	run := func(name string, src netip.Addr) {
		wg.Go(func() {
			_ = p.Do(context.Background(), src, func() {
				if name == "first" {
					<-gate
				}
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
			})
		})
	}
	run("first", flood)
	waitFree(t, p, 0)
	for i := range 5 {
		run(fmt.Sprint("flood", i), flood)
		waitQueued(t, p, i+1)
	}
	run("user", user)
	waitQueued(t, p, 6)
	close(gate)
	wg.Wait()
	pos := -1
	for i, n := range order {
		if n == "user" {
			pos = i
		}
	}
	if pos < 0 || pos > 2 {
		t.Errorf("the user ran at position %d of %v; want right after the run in flight and at most one flood run", pos, order)
	}
}

// TestPoolCancel: a waiter whose context ends leaves the queue and frees
// its share.
func TestPoolCancel(t *testing.T) {
	p, _ := NewPool(PoolLimits{Workers: 1, PerSource: 1, Queue: 4})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	block := make(chan struct{})
	done := make(chan struct{})
	go func() { _ = p.Do(context.Background(), a, func() { <-block }); close(done) }()
	waitFree(t, p, 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- p.Do(ctx, b, func() { t.Error("cancelled run ran") }) }()
	waitQueued(t, p, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	close(block)
	<-done
	if err := p.Do(context.Background(), b, func() {}); err != nil {
		t.Errorf("after cancel: %v", err)
	}
	if p.free != 1 || len(p.pending) != 0 || p.queued != 0 {
		t.Errorf("pool not at rest: free %d pending %v queued %d", p.free, p.pending, p.queued)
	}
}

func waitQueued(t *testing.T, p *Pool, n int) {
	t.Helper()
	waitFor(t, p, func() bool { return p.queued == n })
}

func waitFree(t *testing.T, p *Pool, n int) {
	t.Helper()
	waitFor(t, p, func() bool { return p.free == n })
}

// waitFor polls cond under the pool's lock.
func waitFor(t *testing.T, p *Pool, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		p.mu.Lock()
		ok := cond()
		p.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("pool never reached the expected state")
		}
		time.Sleep(time.Millisecond)
	}
}
