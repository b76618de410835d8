package registry

import (
	"context"
	"sync"
	"time"
)

// keyedMutex locks per key (an upload ID, a digest) so unrelated work never
// waits on a store-wide lock. Entries are freed when nobody holds or waits
// for them.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch    chan struct{} // holds one token while locked
	refs  int           // holders plus waiters
	since time.Time     // when the current holder locked it
}

func newKeyedMutex() *keyedMutex {
	return &keyedMutex{locks: map[string]*keyLock{}}
}

func (m *keyedMutex) ref(key string) *keyLock {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[key]
	if !ok {
		l = &keyLock{ch: make(chan struct{}, 1)}
		m.locks[key] = l
	}
	l.refs++
	return l
}

func (m *keyedMutex) unref(key string, l *keyLock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l.refs--
	if l.refs == 0 {
		delete(m.locks, key)
	}
}

// Lock waits for key until ctx is done. The returned func unlocks.
func (m *keyedMutex) Lock(ctx context.Context, key string) (func(), error) {
	l := m.ref(key)
	select {
	case l.ch <- struct{}{}:
		m.setSince(l)
		return func() { <-l.ch; m.unref(key, l) }, nil
	case <-ctx.Done():
		m.unref(key, l)
		return nil, ctx.Err()
	}
}

// TryLock locks key only if it is free; otherwise it reports for how long
// the current holder has had it.
func (m *keyedMutex) TryLock(key string) (func(), time.Duration, bool) {
	l := m.ref(key)
	select {
	case l.ch <- struct{}{}:
		m.setSince(l)
		return func() { <-l.ch; m.unref(key, l) }, 0, true
	default:
		m.mu.Lock()
		held := time.Since(l.since)
		m.mu.Unlock()
		m.unref(key, l)
		return nil, held, false
	}
}

func (m *keyedMutex) setSince(l *keyLock) {
	m.mu.Lock()
	l.since = time.Now()
	m.mu.Unlock()
}
