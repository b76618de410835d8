package throttle

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Rule says how a Backoff slows a key down.
type Rule struct {
	// Free is how many failures in a row a key may have before it is
	// held back: the delay starts with failure number Free.
	Free int
	// Base is the delay after failure Free; each further failure doubles
	// it, up to Max.
	Base, Max time.Duration
	// Forget is how long after its last failure a key starts afresh.
	// At least Max, so a key is never forgotten while it is held back.
	Forget time.Duration
	// Entries bounds the keys tracked.
	Entries int
}

func (r Rule) validate() error {
	if r.Free < 1 || r.Base <= 0 || r.Max < r.Base || r.Forget < r.Max || r.Entries < 1 {
		return errors.New("throttle: a rule needs Free >= 1, 0 < Base <= Max <= Forget and Entries >= 1")
	}
	return nil
}

// Backoff counts failures per key and holds a key back for a growing
// delay once they exceed the rule's free allowance. It is safe for
// concurrent use.
type Backoff struct {
	rule Rule
	mu   sync.Mutex
	keys map[string]*record
}

type record struct {
	failures int
	last     time.Time // of the last failure
	until    time.Time // held back before this
}

// NewBackoff returns a Backoff applying r.
func NewBackoff(r Rule) (*Backoff, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &Backoff{rule: r, keys: map[string]*record{}}, nil
}

// Wait returns how long key is still held back at now, or 0.
func (b *Backoff) Wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.keys[key]
	if !ok || !now.Before(r.until) {
		return 0
	}
	return r.until.Sub(now)
}

// Fail records a failure of key at now.
func (b *Backoff) Fail(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.keys[key]
	if ok && now.Sub(r.last) > b.rule.Forget {
		r.failures = 0
	}
	if !ok {
		if !b.makeRoom(now) {
			return // full of keys held back: this one goes uncounted until they expire
		}
		r = &record{}
		b.keys[key] = r
	}
	r.failures++
	r.last = now
	if over := r.failures - b.rule.Free + 1; over > 0 {
		r.until = now.Add(b.delay(over))
	}
}

// delay is Base * 2^(over-1), at most Max.
func (b *Backoff) delay(over int) time.Duration {
	d := b.rule.Base
	for i := 1; i < over && d < b.rule.Max; i++ {
		d *= 2
	}
	return min(d, b.rule.Max)
}

// Reset forgets key's failures (after a success).
func (b *Backoff) Reset(key string) {
	b.mu.Lock()
	delete(b.keys, key)
	b.mu.Unlock()
}

// makeRoom makes space for one more key: first by forgetting keys idle
// past Forget, then keys not held back now (their few failures are
// lost; a flood of new keys large enough to cause this is itself held
// back by the other keys it fails on). It reports false when every
// tracked key is held back.
func (b *Backoff) makeRoom(now time.Time) bool {
	if len(b.keys) < b.rule.Entries {
		return true
	}
	for k, r := range b.keys {
		if now.Sub(r.last) > b.rule.Forget {
			delete(b.keys, k)
		}
	}
	if len(b.keys) < b.rule.Entries {
		return true
	}
	for k, r := range b.keys {
		if !now.Before(r.until) {
			delete(b.keys, k)
		}
	}
	return len(b.keys) < b.rule.Entries
}

// String describes the rule, for logs.
func (r Rule) String() string {
	return fmt.Sprintf("%d free, then %v doubling to %v", r.Free, r.Base, r.Max)
}
