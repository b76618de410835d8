package identity_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/throttle"
)

// countingStore counts user reads: a login that reads no user hashed no
// password either.
type countingStore struct {
	identity.Store
	reads atomic.Int64
}

func (c *countingStore) User(ctx context.Context, name string) (identity.User, error) {
	c.reads.Add(1)
	return c.Store.User(ctx, name)
}

func from(addr string) context.Context {
	return identity.WithSource(context.Background(), netip.MustParseAddr(addr))
}

func throttled(t *testing.T, err error) time.Duration {
	t.Helper()
	var te *identity.ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, identity.ErrThrottled) || te.RetryAfter() <= 0 {
		t.Fatalf("want a throttled login, got %v", err)
	}
	return te.RetryAfter()
}

// TestLoginThrottling (#10 finding 7): failed logins slow down per
// account and source, refused before any hashing, with a growing
// back-off; a guesser cannot lock the owner out from everywhere.
func TestLoginThrottling(t *testing.T) {
	s, c, st := newService(t)
	cs := &countingStore{Store: st}
	s, err := identity.NewService(cs, identity.WithArgon2(cheap), identity.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "bob", "bob-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(from("192.0.2.1"), "bob", "bob-password-1"); err != nil {
		t.Fatal(err)
	}
	guesser := from("203.0.113.66")
	for i := range 5 {
		if _, err := s.Authenticate(guesser, "bob", fmt.Sprint("guess-", i)); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	// Held back now, even with the right password, and before reading
	// the user (so before hashing).
	reads := cs.reads.Load()
	first := throttled(t, func() error { _, err := s.Authenticate(guesser, "bob", "bob-password-1"); return err }())
	if cs.reads.Load() != reads {
		t.Error("a throttled login read the user")
	}
	// Waiting it out allows one more try; failing again doubles the wait.
	c.add(first)
	if _, err := s.Authenticate(guesser, "bob", "guess-again"); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Fatal(err)
	}
	if second := throttled(t, func() error { _, err := s.Authenticate(guesser, "bob", "x"); return err }()); second <= first {
		t.Errorf("back-off did not grow: %v then %v", first, second)
	}
	// Names that do not exist are throttled alike: the limit reveals
	// nothing about which accounts exist.
	for i := range 5 {
		_, _ = s.Authenticate(guesser, "nobody", fmt.Sprint("guess-", i))
	}
	throttled(t, func() error { _, err := s.Authenticate(guesser, "nobody", "x"); return err }())
	// So are robot secrets and personal access tokens.
	for i := range 5 {
		_, _ = s.Authenticate(guesser, "robot+ci", fmt.Sprint("moat_rbt_", i))
		_, _ = s.Authenticate(guesser, "carol", fmt.Sprint("moat_pat_1_", i))
	}
	throttled(t, func() error { _, err := s.Authenticate(guesser, "robot+ci", "moat_rbt_x"); return err }())
	throttled(t, func() error { _, err := s.Authenticate(guesser, "carol", "moat_pat_1_x"); return err }())

	// The owner, from another address, is not held back.
	if _, err := s.Authenticate(from("192.0.2.1"), "bob", "bob-password-1"); err != nil {
		t.Errorf("owner held back by a guesser elsewhere: %v", err)
	}

	// Guessing spread over many addresses holds the account back for
	// addresses it has not logged in from, but not for the owner's own.
	for i := range 25 {
		_, _ = s.Authenticate(from(fmt.Sprintf("198.51.100.%d", i+1)), "bob", "spread-guess")
	}
	throttled(t, func() error { _, err := s.Authenticate(from("198.51.100.200"), "bob", "bob-password-1"); return err }())
	if _, err := s.Authenticate(from("192.0.2.1"), "bob", "bob-password-x"); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("owner's address held back by a spread guess: %v", err)
	}
	if _, err := s.Authenticate(from("192.0.2.1"), "bob", "bob-password-1"); err != nil {
		t.Errorf("owner's address held back by a spread guess: %v", err)
	}
}

// TestHashingUnderFlood (#10 finding 7): while one source floods logins
// (64 connections), a login from another source completes promptly and
// the flood's excess is refused at once instead of queueing. "Promptly"
// is counted in flood checks rather than measured in seconds, which the
// CPU load of the machine running the test would blur: a login that
// queued behind the flood would see dozens of its checks complete
// first; a fair pool lets a few through while it runs.
func TestHashingUnderFlood(t *testing.T) {
	// Costly enough that queueing behind the flood would show.
	cost := identity.Argon2Params{Memory: 8 << 10, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	limits := identity.DefaultLoginLimits()
	// Only the hashing pool is under test: let every failure through.
	lax := throttle.Rule{Free: 1 << 30, Base: time.Second, Max: time.Second, Forget: time.Hour, Entries: 10}
	limits.AccountSource, limits.Account, limits.Source = lax, lax, lax
	s, _, _ := newService(t, identity.WithArgon2(cost), identity.WithLoginLimits(limits), identity.WithPasswordCacheTTL(0))
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "alice", "alice-password-1"); err != nil {
		t.Fatal(err)
	}
	var checked, refused atomic.Int64
	login := func() (took time.Duration, floodChecks int64) {
		start, before := time.Now(), checked.Load()
		if _, err := s.Authenticate(from("192.0.2.10"), "alice", "alice-password-1"); err != nil {
			t.Fatal(err)
		}
		return time.Since(start), checked.Load() - before
	}
	alone, _ := login()

	flood, stop := from("203.0.113.99"), make(chan struct{})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.Authenticate(flood, fmt.Sprintf("bogus-%d-%d", i, n), "wrong-password")
				switch {
				case errors.Is(err, identity.ErrThrottled):
					refused.Add(1)
					time.Sleep(time.Millisecond) // a client reading its 429
				case errors.Is(err, identity.ErrUnauthenticated):
					checked.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	for checked.Load() < 4 {
		time.Sleep(time.Millisecond) // the flood is under way
	}
	var worst time.Duration
	var most int64
	for range 5 {
		took, n := login()
		worst, most = max(worst, took), max(most, n)
	}
	close(stop)
	wg.Wait()
	if refused.Load() == 0 {
		t.Error("nothing of the flood was refused")
	}
	// The flood holds at most 2 of the 4 workers, so the login never
	// waits for one; while it hashes, the flood's two run beside it and
	// complete a few checks (more when the CPU favours them). Queued
	// behind 64 connections it would see some sixty.
	if most > 20 {
		t.Errorf("%d flood checks completed during one login; it queued behind the flood", most)
	}
	t.Logf("login alone %v; under a flood of 64 connections at worst %v, while %d flood checks completed; the flood: %d checked, %d refused at once",
		alone, worst, most, checked.Load(), refused.Load())
}
