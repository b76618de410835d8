package identity

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/auth/throttle"
)

// ErrThrottled: a login was refused before its credentials were checked,
// because of too many recent failures or too many pending password
// checks. It says nothing about the credentials. Errors wrapping it are
// *ThrottledError, which says when to retry.
var ErrThrottled = errors.New("too many login attempts")

// ThrottledError is a refused login (ErrThrottled).
type ThrottledError struct {
	// Wait is how long to wait before trying again.
	Wait time.Duration
	// Reason is for logs: which limit refused.
	Reason string
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v (%s): retry in %v", ErrThrottled, e.Reason, e.Wait.Round(time.Second))
}

func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// RetryAfter is how long to wait, for edges that answer with a
// Retry-After header; they find it with errors.As and an interface of
// their own.
func (e *ThrottledError) RetryAfter() time.Duration { return e.Wait }

// LoginLimits slow down guessing. Failed logins are counted per account
// name as presented (existing or not, so throttling reveals nothing) and
// source address (IPv6 by /64): the strict AccountSource rule holds back
// one source trying one account; the looser Account and Source rules
// hold back a guesser spread over many sources or many accounts, but not
// a source that logged in to that account successfully within
// KnownSourceFor, so an attacker cannot lock its owner out everywhere.
// Throttled logins are refused before any password is hashed.
//
// Hashing runs on a throttle.Pool: each source gets at most a small share
// of the workers and the queue, and what exceeds them is refused at once.
//
// Counters live in each server process; with n replicas a guesser gets n
// times the allowance, still a bounded rate.
type LoginLimits struct {
	AccountSource, Account, Source throttle.Rule
	KnownSourceFor                 time.Duration
	Hashing                        throttle.PoolLimits
}

// DefaultLoginLimits: after five failures in a row of one account from
// one source, 1 s doubling to 15 min; after twenty of one account from
// anywhere, or fifty from one source to any account, 1 s doubling to
// 5 min; four hashes at once, two per source, 32 waiting.
func DefaultLoginLimits() LoginLimits {
	return LoginLimits{
		AccountSource:  throttle.Rule{Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour, Entries: 100_000},
		Account:        throttle.Rule{Free: 20, Base: time.Second, Max: 5 * time.Minute, Forget: time.Hour, Entries: 50_000},
		Source:         throttle.Rule{Free: 50, Base: time.Second, Max: 5 * time.Minute, Forget: time.Hour, Entries: 50_000},
		KnownSourceFor: 24 * time.Hour,
		Hashing:        throttle.PoolLimits{Workers: 4, PerSource: 2, Queue: 32},
	}
}

// WithLoginLimits sets the login limits. Default: DefaultLoginLimits().
func WithLoginLimits(l LoginLimits) Option {
	return func(s *Service) error {
		s.limits = l
		return nil
	}
}

// maxKnownSources bounds the remembered successful (account, source)
// pairs.
const maxKnownSources = 50_000

// loginThrottle applies LoginLimits' counters.
type loginThrottle struct {
	pair, account, source *throttle.Backoff
	knownFor              time.Duration

	mu    sync.Mutex
	known map[string]time.Time // pair key -> last success
}

func newLoginThrottle(l LoginLimits) (*loginThrottle, error) {
	t := &loginThrottle{knownFor: l.KnownSourceFor, known: map[string]time.Time{}}
	var err error
	for _, b := range []struct {
		dst  **throttle.Backoff
		rule throttle.Rule
	}{{&t.pair, l.AccountSource}, {&t.account, l.Account}, {&t.source, l.Source}} {
		if *b.dst, err = throttle.NewBackoff(b.rule); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// maxAccountKey bounds the account part of a key; valid names are far
// shorter.
const maxAccountKey = 256

func throttleKeys(account string, src netip.Addr) (acct, source, pair string) {
	if len(account) > maxAccountKey {
		account = account[:maxAccountKey]
	}
	if src.Is6() && !src.Is4In6() {
		// One IPv6 host commonly holds a whole /64.
		src = netip.PrefixFrom(src, 64).Masked().Addr()
	}
	source = src.Unmap().String()
	return account, source, account + "\x00" + source
}

// check refuses a login held back by any rule that applies to it.
func (t *loginThrottle) check(account string, src netip.Addr, now time.Time) error {
	acct, source, pair := throttleKeys(account, src)
	if w := t.pair.Wait(pair, now); w > 0 {
		return &ThrottledError{Wait: w, Reason: "failed logins to this account from this source"}
	}
	if t.knownSource(pair, now) {
		return nil
	}
	if w := t.account.Wait(acct, now); w > 0 {
		return &ThrottledError{Wait: w, Reason: "failed logins to this account"}
	}
	if w := t.source.Wait(source, now); w > 0 {
		return &ThrottledError{Wait: w, Reason: "failed logins from this source"}
	}
	return nil
}

func (t *loginThrottle) failed(account string, src netip.Addr, now time.Time) {
	acct, source, pair := throttleKeys(account, src)
	t.pair.Fail(pair, now)
	t.account.Fail(acct, now)
	t.source.Fail(source, now)
}

func (t *loginThrottle) succeeded(account string, src netip.Addr, now time.Time) {
	_, _, pair := throttleKeys(account, src)
	t.pair.Reset(pair)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.known) >= maxKnownSources {
		for k, at := range t.known {
			if now.Sub(at) > t.knownFor {
				delete(t.known, k)
			}
		}
		if len(t.known) >= maxKnownSources {
			clear(t.known) // the exemption is a courtesy; losing it is safe
		}
	}
	t.known[pair] = now
}

func (t *loginThrottle) knownSource(pair string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.known[pair]
	return ok && now.Sub(at) <= t.knownFor
}
