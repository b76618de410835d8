package identity_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/identitytest"
	"github.com/moat-dev/moat/internal/auth/policy"
)

// cheap keeps argon2id fast in tests (the default costs seconds under
// the race detector).
var cheap = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T, opts ...identity.Option) (*identity.Service, *clock, identity.Store) {
	t.Helper()
	c := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	st := identitytest.NewMemStore()
	s, err := identity.NewService(st, append([]identity.Option{identity.WithArgon2(cheap), identity.WithClock(c.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, c, st
}

func TestPasswordHash(t *testing.T) {
	if d := identity.DefaultArgon2(); d != (identity.Argon2Params{Memory: 64 << 10, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}) {
		t.Errorf("default parameters %+v", d)
	}
	h, err := identity.HashPassword("correct horse", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %s", h)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsf": false, "": false} {
		if ok, err := identity.VerifyPassword(pw, h); err != nil || ok != want {
			t.Errorf("%q: %v %v", pw, ok, err)
		}
	}
	h2, _ := identity.HashPassword("correct horse", cheap)
	if h2 == h {
		t.Error("same salt twice")
	}
	for _, bad := range []string{
		"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 4 GiB: refused
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", // 4-byte key
	} {
		if _, err := identity.VerifyPassword("x", bad); err == nil {
			t.Errorf("accepted hash %q", bad)
		}
	}
}

func TestUsersAndPasswords(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	if _, err := s.CreateUser(ctx, "Alice", "password1"); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := s.CreateUser(ctx, "alice", "short"); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("short password: %v", err)
	}
	if _, err := s.CreateUser(ctx, "alice", "password1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "alice", "password1"); !errors.Is(err, identity.ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := s.CreateGroup(ctx, "team-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "team-a", "alice"); err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, "alice", "password1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != policy.User || p.Name != "alice" || len(p.Groups) != 1 || p.Groups[0] != "team-a" || p.Subject() != "user:alice" || p.AccountID == 0 || !strings.HasPrefix(p.Credential, fmt.Sprintf("password:%d:", p.AccountID)) {
		t.Errorf("principal %+v", p)
	}
	for _, c := range [][2]string{{"alice", "password2"}, {"bob", "password1"}, {"alice", ""}, {"", ""}} {
		if _, err := s.Authenticate(ctx, c[0], c[1]); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("%v: %v", c, err)
		}
	}
	// Group changes show at once (the cache is dropped).
	if err := s.RemoveMember(ctx, "team-a", "alice"); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Authenticate(ctx, "alice", "password1"); len(p.Groups) != 0 {
		t.Errorf("groups after removal: %v", p.Groups)
	}
	// A password change kills the old password and refresh credentials.
	if _, err := s.Revalidate(ctx, "user:alice", p.AccountID, p.Credential); err != nil {
		t.Fatalf("revalidate before change: %v", err)
	}
	if err := s.SetPassword(ctx, "alice", "password2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice", "password1"); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("old password still works: %v", err)
	}
	if _, err := s.Revalidate(ctx, "user:alice", p.AccountID, p.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("credential survived password change: %v", err)
	}
	p2, err := s.Authenticate(ctx, "alice", "password2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revalidate(ctx, "user:bob", p2.AccountID, p2.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("credential accepted for another subject: %v", err)
	}
	if err := s.SetUserDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice", "password2"); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("disabled user logs in: %v", err)
	}
	if _, err := s.Revalidate(ctx, "user:alice", p2.AccountID, p2.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("disabled user revalidates: %v", err)
	}
	if _, err := s.Lookup(ctx, "user:alice"); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("disabled user looked up: %v", err)
	}
}

func TestRobots(t *testing.T) {
	ctx := context.Background()
	s, c, _ := newService(t)
	if _, _, err := s.CreateRobot(ctx, "old", identity.RobotOptions{ExpiresAt: c.now().Add(-time.Hour)}); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("robot expiring in the past: %v", err)
	}
	r, secret, err := s.CreateRobot(ctx, "ci", identity.RobotOptions{Description: "CI", ExpiresAt: c.now().Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "moat_rbt_") || bytes.Contains(r.SecretHash, []byte(secret)) {
		t.Fatalf("secret %q, hash %x", secret, r.SecretHash)
	}
	p, err := s.Authenticate(ctx, "robot+ci", secret)
	if err != nil || p.Type != policy.Robot || p.Name != "ci" || p.Subject() != "robot:ci" {
		t.Fatalf("robot login: %+v %v", p, err)
	}
	for _, c := range [][2]string{{"robot+ci", secret + "x"}, {"robot+ci", strings.TrimPrefix(secret, "moat_rbt_")}, {"robot+cd", secret}, {"ci", secret}} {
		if _, err := s.Authenticate(ctx, c[0], c[1]); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("%v: %v", c, err)
		}
	}
	if _, err := s.Revalidate(ctx, "robot:ci", p.AccountID, p.Credential); err != nil {
		t.Errorf("revalidate: %v", err)
	}
	// Rotation invalidates the old secret and refresh credential.
	newSecret, err := s.RotateRobotSecret(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "robot+ci", secret); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("old secret works after rotation: %v", err)
	}
	if _, err := s.Revalidate(ctx, "robot:ci", p.AccountID, p.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("old credential revalidates: %v", err)
	}
	p, err = s.Authenticate(ctx, "robot+ci", newSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRobotDisabled(ctx, "ci", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "robot+ci", newSecret); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("disabled robot logs in: %v", err)
	}
	if _, err := s.Lookup(ctx, "robot:ci"); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("disabled robot looked up: %v", err)
	}
	if err := s.SetRobotDisabled(ctx, "ci", false); err != nil {
		t.Fatal(err)
	}
	c.add(24 * time.Hour)
	if _, err := s.Authenticate(ctx, "robot+ci", newSecret); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("expired robot logs in: %v", err)
	}
	if _, err := s.Revalidate(ctx, "robot:ci", p.AccountID, p.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("expired robot revalidates: %v", err)
	}
}

func TestAccessTokens(t *testing.T) {
	ctx := context.Background()
	s, c, _ := newService(t)
	if _, err := s.CreateUser(ctx, "alice", "password1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "bob", "password1"); err != nil {
		t.Fatal(err)
	}
	tok, secret, err := s.CreateAccessToken(ctx, "alice", identity.TokenOptions{Description: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresAt.Sub(tok.CreatedAt) != 12*time.Hour || !strings.HasPrefix(secret, "moat_pat_") {
		t.Fatalf("token %+v %q", tok, secret)
	}
	p, err := s.Authenticate(ctx, "alice", secret)
	if err != nil || p.Name != "alice" || !p.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("token login: %+v %v", p, err)
	}
	if _, err := s.Authenticate(ctx, "bob", secret); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("alice's token works for bob: %v", err)
	}
	// From another address, so that these failures do not hold alice's
	// own logins back (see TestLoginThrottling).
	guesser := identity.WithSource(ctx, netip.MustParseAddr("203.0.113.9"))
	for _, bad := range []string{secret + "x", "moat_pat_", "moat_pat_x_y", "moat_pat_999_abc", "moat_pat_-1_abc"} {
		if _, err := s.Authenticate(guesser, "alice", bad); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := s.RevokeAccessToken(ctx, "bob", tok.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("bob revokes alice's token: %v", err)
	}
	_, secret2, err := s.CreateAccessToken(ctx, "alice", identity.TokenOptions{Description: "ci", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAccessToken(ctx, "alice", tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice", secret); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("revoked token works: %v", err)
	}
	if _, err := s.Revalidate(ctx, "user:alice", p.AccountID, p.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("revoked token revalidates: %v", err)
	}
	if _, err := s.Authenticate(ctx, "alice", secret2); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)
	if _, err := s.Authenticate(ctx, "alice", secret2); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("expired token works: %v", err)
	}
	if _, _, err := s.CreateAccessToken(ctx, "alice", identity.TokenOptions{TTL: time.Second}); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("1s token: %v", err)
	}
	if _, _, err := s.CreateAccessToken(ctx, "carol", identity.TokenOptions{}); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("token for missing user: %v", err)
	}
	if ts, err := s.AccessTokens(ctx, "alice"); err != nil || len(ts) != 2 {
		t.Fatalf("tokens: %v %v", ts, err)
	}
	// Only tokens expired for over a day are purged: none yet, both
	// 36 hours later.
	if n, err := s.PurgeExpiredTokens(ctx); err != nil || n != 0 {
		t.Errorf("purge now: %d %v", n, err)
	}
	c.add(36 * time.Hour)
	if n, err := s.PurgeExpiredTokens(ctx); err != nil || n != 2 {
		t.Errorf("purge later: %d %v", n, err)
	}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	s, _, st := newService(t)
	var out bytes.Buffer
	created, err := s.Bootstrap(ctx, "", &out)
	if err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	line := out.String()
	i := strings.Index(line, "password ")
	if i < 0 {
		t.Fatalf("no password printed: %q", line)
	}
	pw := strings.Fields(line[i+len("password "):])[0]
	p, err := s.Authenticate(ctx, "admin", pw)
	if err != nil || len(p.Groups) != 1 || p.Groups[0] != identity.AdminGroup {
		t.Fatalf("admin login: %+v %v", p, err)
	}
	out.Reset()
	if created, err := s.Bootstrap(ctx, "", &out); err != nil || created || out.Len() != 0 {
		t.Errorf("second bootstrap: %v %v %q", created, err, out.String())
	}

	// From the environment: nothing printed; too short is a clear error.
	s2, err := identity.NewService(identitytest.NewMemStore(), identity.WithArgon2(cheap))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Bootstrap(ctx, "short", &out); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("short admin password: %v", err)
	}
	if created, err := s2.Bootstrap(ctx, "from-the-env", &out); err != nil || !created || out.Len() != 0 {
		t.Errorf("env bootstrap: %v %v %q", created, err, out.String())
	}
	if _, err := s2.Authenticate(ctx, "admin", "from-the-env"); err != nil {
		t.Error(err)
	}

	// Concurrent first starts over one store create one admin.
	shared := identitytest.NewMemStore()
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for range 4 {
		wg.Go(func() {
			svc, _ := identity.NewService(shared, identity.WithArgon2(cheap))
			c, err := svc.Bootstrap(ctx, "", &bytes.Buffer{})
			if err != nil {
				t.Error(err)
			}
			if c {
				mu.Lock()
				n++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n != 1 {
		t.Errorf("%d admins created", n)
	}
	_ = st
}

// TestHashConcurrencyBound: logins share one hashing slot, and a
// cancelled login does not hash at all.
func TestHashConcurrencyBound(t *testing.T) {
	s, _, _ := newService(t, identity.WithMaxConcurrentHashes(1), identity.WithPasswordCacheTTL(0))
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "alice", "password1"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.Authenticate(ctx, "alice", "password1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Authenticate(cctx, "alice", "password1"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled login: %v", err)
	}
}

// TestRevalidateBindsAccount (#10 findings 2 and 4): a credential is
// good only for the account it was issued to, named by its id: not for
// another id, not for a re-created account of the same name, and not in
// the formats earlier versions issued (without the id).
func TestRevalidateBindsAccount(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	if _, err := s.CreateUser(ctx, "alice", "password1"); err != nil {
		t.Fatal(err)
	}
	pw, err := s.Authenticate(ctx, "alice", "password1")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := s.CreateAccessToken(ctx, "alice", identity.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pat, err := s.Authenticate(ctx, "alice", secret)
	if err != nil {
		t.Fatal(err)
	}
	_, rsecret, err := s.CreateRobot(ctx, "ci", identity.RobotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	robot, err := s.Authenticate(ctx, "robot+ci", rsecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []identity.Principal{pw, pat, robot} {
		if _, err := s.Revalidate(ctx, p.Subject(), p.AccountID, p.Credential); err != nil {
			t.Errorf("%s: %v", p.Credential, err)
		}
		if _, err := s.Revalidate(ctx, p.Subject(), p.AccountID+1000, p.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("%s with another account id: %v", p.Credential, err)
		}
		if _, err := s.Revalidate(ctx, p.Subject(), 0, p.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("%s without an account id: %v", p.Credential, err)
		}
	}
	if _, err := s.Revalidate(ctx, "robot:ci", pw.AccountID, pw.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("a password credential for a robot subject: %v", err)
	}
	fp := pw.Credential[strings.LastIndex(pw.Credential, ":")+1:]
	for _, old := range []string{"password:alice:" + fp, fmt.Sprint("pat:", pat.AccountID), "robot:ci:" + fp, "", "password", "x:1:2"} {
		if _, err := s.Revalidate(ctx, "user:alice", pw.AccountID, old); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("credential %q: %v", old, err)
		}
	}
	// Delete and re-create both accounts with the same secrets where
	// possible: nothing issued before holds.
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "alice", "password1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRobot(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateRobot(ctx, "ci", identity.RobotOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []identity.Principal{pw, pat, robot} {
		if _, err := s.Revalidate(ctx, p.Subject(), p.AccountID, p.Credential); !errors.Is(err, identity.ErrUnauthenticated) {
			t.Errorf("%s after re-creation: %v", p.Credential, err)
		}
	}
}

// TestEpoch (#10 finding 3): changes through this Service move the epoch
// at once; changes by another process sharing the store move it when
// Refresh sees them, and drop the password cache.
func TestEpoch(t *testing.T) {
	ctx := context.Background()
	server, c, st := newService(t)
	cli, err := identity.NewService(st, identity.WithArgon2(cheap), identity.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.CreateUser(ctx, "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Refresh(ctx); err != nil { // sees bob's creation
		t.Fatal(err)
	}
	if _, err := server.Authenticate(ctx, "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	e := server.Epoch()
	if changed, err := server.Refresh(ctx); err != nil || changed || server.Epoch() != e {
		t.Fatalf("refresh without a change: %v %v", changed, err)
	}
	if err := cli.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	// Until the server refreshes, its cache still answers (for at most a
	// second in a server, which refreshes every second)...
	if _, err := server.Authenticate(ctx, "bob", "bob-password"); err != nil {
		t.Fatalf("cached login before the refresh: %v", err)
	}
	if changed, err := server.Refresh(ctx); err != nil || !changed || server.Epoch() == e {
		t.Fatalf("refresh after another process's change: %v %v", changed, err)
	}
	// ...and not after.
	if _, err := server.Authenticate(ctx, "bob", "bob-password"); !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("deleted user logs in after the refresh: %v", err)
	}
	e = server.Epoch()
	if _, err := server.CreateGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := server.AddMember(ctx, "g", "admin"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatal(err)
	}
	if server.Epoch() == e {
		t.Error("a change through the Service left the epoch")
	}
}
