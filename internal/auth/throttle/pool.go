package throttle

import (
	"context"
	"errors"
	"net/netip"
	"sync"
)

// ErrBusy: the pool refused the work at once, because the source already
// has its share in flight or queued, or the queue is full.
var ErrBusy = errors.New("throttle: too much work pending")

// Pool runs work on a bounded number of workers. Each source (an address)
// may have at most PerSource runs in flight or queued; at most Queue runs
// wait in all; anything beyond is refused with ErrBusy at once rather
// than queued. Waiting runs are served round-robin across sources, so a
// flood from some sources delays another by at most one run per flooding
// source.
type Pool struct {
	perSource, maxQueue int

	mu      sync.Mutex
	free    int                          // idle workers
	pending map[netip.Addr]int           // per source: in flight + queued
	queues  map[netip.Addr][]*poolWaiter // per source, oldest first
	ring    []netip.Addr                 // sources with waiters, in turn order
	next    int                          // ring index served next
	queued  int
}

type poolWaiter struct {
	ready   chan struct{} // closed when a worker is handed over
	granted bool          // under Pool.mu
}

// PoolLimits size a Pool.
type PoolLimits struct {
	Workers   int // runs at once
	PerSource int // in flight + queued per source
	Queue     int // queued in all
}

// NewPool returns a Pool with the given limits.
func NewPool(l PoolLimits) (*Pool, error) {
	if l.Workers < 1 || l.PerSource < 1 || l.Queue < 0 {
		return nil, errors.New("throttle: a pool needs Workers >= 1, PerSource >= 1 and Queue >= 0")
	}
	return &Pool{perSource: l.PerSource, maxQueue: l.Queue, free: l.Workers,
		pending: map[netip.Addr]int{}, queues: map[netip.Addr][]*poolWaiter{}}, nil
}

// Do runs fn on a worker for source (the zero Addr is a source like any
// other). It returns ErrBusy without running fn when the source's share
// or the queue is full, and ctx's error if ctx ends while fn waits.
func (p *Pool) Do(ctx context.Context, source netip.Addr, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	if p.pending[source] >= p.perSource {
		p.mu.Unlock()
		return ErrBusy
	}
	if p.free > 0 && p.queued == 0 {
		p.free--
		p.pending[source]++
		p.mu.Unlock()
		return p.run(source, fn)
	}
	if p.queued >= p.maxQueue {
		p.mu.Unlock()
		return ErrBusy
	}
	w := &poolWaiter{ready: make(chan struct{})}
	if len(p.queues[source]) == 0 {
		p.ring = append(p.ring, source)
	}
	p.queues[source] = append(p.queues[source], w)
	p.pending[source]++
	p.queued++
	p.mu.Unlock()

	select {
	case <-w.ready:
		return p.run(source, fn)
	case <-ctx.Done():
		p.mu.Lock()
		if w.granted {
			// Handed a worker just as ctx ended: pass it on.
			p.mu.Unlock()
			p.release(source)
			return ctx.Err()
		}
		p.dequeue(source, w)
		p.mu.Unlock()
		return ctx.Err()
	}
}

func (p *Pool) run(source netip.Addr, fn func()) error {
	defer p.release(source)
	fn()
	return nil
}

// release ends source's run and hands its worker to the next source in
// turn, or frees it.
func (p *Pool) release(source netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done(source)
	if len(p.ring) == 0 {
		p.free++
		return
	}
	if p.next >= len(p.ring) {
		p.next = 0
	}
	src := p.ring[p.next]
	q := p.queues[src]
	w := q[0]
	if len(q) == 1 {
		delete(p.queues, src)
		p.ring = append(p.ring[:p.next], p.ring[p.next+1:]...)
	} else {
		p.queues[src] = q[1:]
		p.next++
	}
	p.queued--
	w.granted = true
	close(w.ready)
}

// dequeue removes a waiter that gave up; p.mu is held.
func (p *Pool) dequeue(source netip.Addr, w *poolWaiter) {
	q := p.queues[source]
	for i, x := range q {
		if x != w {
			continue
		}
		q = append(q[:i], q[i+1:]...)
		break
	}
	if len(q) > 0 {
		p.queues[source] = q
	} else {
		delete(p.queues, source)
		for i, s := range p.ring {
			if s == source {
				p.ring = append(p.ring[:i], p.ring[i+1:]...)
				if p.next > i {
					p.next--
				}
				break
			}
		}
	}
	p.queued--
	p.done(source)
}

// done drops one of source's pending runs; p.mu is held.
func (p *Pool) done(source netip.Addr) {
	if p.pending[source] <= 1 {
		delete(p.pending, source)
	} else {
		p.pending[source]--
	}
}
