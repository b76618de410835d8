package identitytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
)

// RunStoreTests runs the conformance suite against stores made by
// newStore, one fresh store per subtest.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) identity.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 123456789, time.UTC)
	mustUser := func(t *testing.T, s identity.Store, name string) identity.User {
		t.Helper()
		u, err := s.CreateUser(ctx, identity.User{Name: name, PasswordHash: "$argon2id$x-" + name, CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	t.Run("users", func(t *testing.T) {
		s := newStore(t)
		u := mustUser(t, s, "alice")
		if u.ID == 0 {
			t.Error("no id assigned")
		}
		if _, err := s.CreateUser(ctx, identity.User{Name: "alice", PasswordHash: "x", CreatedAt: t0}); !errors.Is(err, identity.ErrExists) {
			t.Errorf("duplicate user: %v", err)
		}
		got, err := s.User(ctx, "alice")
		if err != nil || got.ID != u.ID || got.PasswordHash != "$argon2id$x-alice" || !got.CreatedAt.Equal(t0) || got.Disabled {
			t.Fatalf("User: %+v %v", got, err)
		}
		got.PasswordHash, got.Disabled = "new", true
		if err := s.UpdateUser(ctx, got); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.User(ctx, "alice"); again.PasswordHash != "new" || !again.Disabled {
			t.Errorf("after update: %+v", again)
		}
		if err := s.UpdateUser(ctx, identity.User{Name: "nobody"}); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("update missing: %v", err)
		}
		if _, err := s.User(ctx, "nobody"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("missing user: %v", err)
		}
		mustUser(t, s, "bob")
		us, err := s.Users(ctx)
		if err != nil || len(us) != 2 || us[0].Name != "alice" || us[1].Name != "bob" {
			t.Errorf("Users: %+v %v", us, err)
		}
		if err := s.DeleteUser(ctx, "nobody"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("delete missing: %v", err)
		}
	})

	t.Run("groups", func(t *testing.T) {
		s := newStore(t)
		mustUser(t, s, "alice")
		mustUser(t, s, "bob")
		for _, g := range []string{"team-b", "team-a"} {
			if _, err := s.CreateGroup(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.CreateGroup(ctx, "team-a"); !errors.Is(err, identity.ErrExists) {
			t.Errorf("duplicate group: %v", err)
		}
		for _, m := range [][2]string{{"team-b", "alice"}, {"team-a", "alice"}, {"team-a", "alice"}, {"team-a", "bob"}} {
			if err := s.AddMember(ctx, m[0], m[1]); err != nil {
				t.Fatalf("AddMember %v: %v", m, err)
			}
		}
		if err := s.AddMember(ctx, "team-c", "alice"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("missing group: %v", err)
		}
		if err := s.AddMember(ctx, "team-a", "carol"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("missing user: %v", err)
		}
		if gs, err := s.GroupsOf(ctx, "alice"); err != nil || !slices.Equal(gs, []string{"team-a", "team-b"}) {
			t.Errorf("GroupsOf: %v %v", gs, err)
		}
		if ms, err := s.Members(ctx, "team-a"); err != nil || !slices.Equal(ms, []string{"alice", "bob"}) {
			t.Errorf("Members: %v %v", ms, err)
		}
		if err := s.RemoveMember(ctx, "team-a", "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveMember(ctx, "team-a", "alice"); err != nil {
			t.Errorf("second remove: %v", err)
		}
		if gs, _ := s.GroupsOf(ctx, "alice"); !slices.Equal(gs, []string{"team-b"}) {
			t.Errorf("after remove: %v", gs)
		}
		if err := s.DeleteUser(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if ms, _ := s.Members(ctx, "team-a"); len(ms) != 0 {
			t.Errorf("deleted user still a member: %v", ms)
		}
		if err := s.DeleteGroup(ctx, "team-b"); err != nil {
			t.Fatal(err)
		}
		if gs, _ := s.GroupsOf(ctx, "alice"); len(gs) != 0 {
			t.Errorf("deleted group still listed: %v", gs)
		}
		if gs, err := s.Groups(ctx); err != nil || len(gs) != 1 || gs[0].Name != "team-a" {
			t.Errorf("Groups: %+v %v", gs, err)
		}
		if _, err := s.Members(ctx, "team-b"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("members of deleted group: %v", err)
		}
	})

	t.Run("robots", func(t *testing.T) {
		s := newStore(t)
		hash := bytes.Repeat([]byte{0xab}, 32)
		exp := t0.Add(90 * 24 * time.Hour)
		r, err := s.CreateRobot(ctx, identity.Robot{Name: "ci", Description: "pipeline", SecretHash: hash, ExpiresAt: exp, CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRobot(ctx, identity.Robot{Name: "ci", SecretHash: hash, CreatedAt: t0}); !errors.Is(err, identity.ErrExists) {
			t.Errorf("duplicate robot: %v", err)
		}
		if _, err := s.CreateRobot(ctx, identity.Robot{Name: "forever", SecretHash: hash, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Robot(ctx, "ci")
		if err != nil || got.ID != r.ID || !bytes.Equal(got.SecretHash, hash) || !got.ExpiresAt.Equal(exp) || got.Description != "pipeline" || got.Disabled {
			t.Fatalf("Robot: %+v %v", got, err)
		}
		if f, _ := s.Robot(ctx, "forever"); !f.ExpiresAt.IsZero() {
			t.Errorf("no-expiry robot expires %v", f.ExpiresAt)
		}
		got.Disabled, got.SecretHash, got.ExpiresAt = true, bytes.Repeat([]byte{1}, 32), time.Time{}
		if err := s.UpdateRobot(ctx, got); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.Robot(ctx, "ci"); !again.Disabled || again.SecretHash[0] != 1 || !again.ExpiresAt.IsZero() {
			t.Errorf("after update: %+v", again)
		}
		if rs, err := s.Robots(ctx); err != nil || len(rs) != 2 || rs[0].Name != "ci" {
			t.Errorf("Robots: %+v %v", rs, err)
		}
		if err := s.DeleteRobot(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Robot(ctx, "ci"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("deleted robot: %v", err)
		}
		if err := s.UpdateRobot(ctx, identity.Robot{Name: "ci"}); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("update deleted robot: %v", err)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		s := newStore(t)
		mustUser(t, s, "alice")
		if _, err := s.CreateToken(ctx, identity.AccessToken{User: "nobody", SecretHash: []byte{1}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("token for missing user: %v", err)
		}
		var ids []int64
		for i := range 3 {
			tk, err := s.CreateToken(ctx, identity.AccessToken{User: "alice", Description: fmt.Sprint("t", i), SecretHash: []byte{byte(i)}, CreatedAt: t0, ExpiresAt: t0.Add(time.Duration(i+1) * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tk.ID)
		}
		got, err := s.Token(ctx, ids[1])
		if err != nil || got.User != "alice" || got.Description != "t1" || !bytes.Equal(got.SecretHash, []byte{1}) || !got.ExpiresAt.Equal(t0.Add(2*time.Hour)) || !got.RevokedAt.IsZero() {
			t.Fatalf("Token: %+v %v", got, err)
		}
		if err := s.RevokeToken(ctx, ids[1], t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, ids[1], t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Token(ctx, ids[1]); !got.RevokedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("revoked at %v, want the first revocation", got.RevokedAt)
		}
		if err := s.RevokeToken(ctx, 999999, t0); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("revoke missing: %v", err)
		}
		ts, err := s.Tokens(ctx, "alice")
		if err != nil || len(ts) != 3 || ts[0].ID != ids[2] {
			t.Errorf("Tokens: %+v %v", ts, err)
		}
		n, err := s.DeleteExpiredTokens(ctx, t0.Add(90*time.Minute))
		if err != nil || n != 1 {
			t.Errorf("DeleteExpiredTokens: %d %v", n, err)
		}
		if _, err := s.Token(ctx, ids[0]); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("expired token kept: %v", err)
		}
		if err := s.DeleteUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Token(ctx, ids[2]); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("token of deleted user kept: %v", err)
		}
	})

	// Every change raises the generation, so a server process sees
	// changes made by another (the CLI, a replica); reads do not.
	t.Run("generation", func(t *testing.T) {
		s := newStore(t)
		last, err := s.Generation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var tokenID int64
		for _, step := range []struct {
			name string
			fn   func() error
		}{
			{"create user", func() error { mustUser(t, s, "alice"); return nil }},
			{"update user", func() error {
				return s.UpdateUser(ctx, identity.User{Name: "alice", PasswordHash: "other"})
			}},
			{"create group", func() error { _, err := s.CreateGroup(ctx, "team"); return err }},
			{"add member", func() error { return s.AddMember(ctx, "team", "alice") }},
			{"remove member", func() error { return s.RemoveMember(ctx, "team", "alice") }},
			{"delete group", func() error { return s.DeleteGroup(ctx, "team") }},
			{"create robot", func() error {
				_, err := s.CreateRobot(ctx, identity.Robot{Name: "ci", SecretHash: []byte{1}, CreatedAt: t0})
				return err
			}},
			{"update robot", func() error { return s.UpdateRobot(ctx, identity.Robot{Name: "ci", SecretHash: []byte{2}}) }},
			{"delete robot", func() error { return s.DeleteRobot(ctx, "ci") }},
			{"create token", func() error {
				tk, err := s.CreateToken(ctx, identity.AccessToken{User: "alice", SecretHash: []byte{1}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
				tokenID = tk.ID
				return err
			}},
			{"revoke token", func() error { return s.RevokeToken(ctx, tokenID, t0) }},
			{"purge tokens", func() error { _, err := s.DeleteExpiredTokens(ctx, t0.Add(2*time.Hour)); return err }},
			{"delete user", func() error { return s.DeleteUser(ctx, "alice") }},
		} {
			if err := step.fn(); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			g, err := s.Generation(ctx)
			if err != nil || g <= last {
				t.Errorf("%s: generation %d after %d (%v)", step.name, g, last, err)
			}
			last = g
		}
		if _, err := s.Users(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.User(ctx, "nobody"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatal(err)
		}
		if g, _ := s.Generation(ctx); g != last {
			t.Errorf("reads moved the generation from %d to %d", last, g)
		}
	})

	// A deleted and re-created account gets a new id, so nothing keyed by
	// the old one (a token's account id) matches the new account.
	t.Run("ids never reused", func(t *testing.T) {
		s := newStore(t)
		seen := map[int64]string{}
		see := func(kind string, id int64) {
			t.Helper()
			if prev, dup := seen[id]; dup {
				t.Errorf("%s got id %d, given before to %s", kind, id, prev)
			}
			seen[id] = kind
		}
		for i := range 2 {
			u := mustUser(t, s, "alice")
			see(fmt.Sprint("user #", i), u.ID)
			tk, err := s.CreateToken(ctx, identity.AccessToken{User: "alice", SecretHash: []byte{1}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			see(fmt.Sprint("token #", i), tk.ID)
			r, err := s.CreateRobot(ctx, identity.Robot{Name: "ci", SecretHash: []byte{1}, CreatedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			see(fmt.Sprint("robot #", i), r.ID)
			g, err := s.CreateGroup(ctx, "team")
			if err != nil {
				t.Fatal(err)
			}
			see(fmt.Sprint("group #", i), g.ID)
			for _, del := range []func() error{
				func() error { return s.DeleteGroup(ctx, "team") },
				func() error { return s.DeleteRobot(ctx, "ci") },
				func() error { return s.DeleteUser(ctx, "alice") },
			} {
				if err := del(); err != nil {
					t.Fatal(err)
				}
			}
		}
	})

	t.Run("concurrent create", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, exists := 0, 0
		for range 8 {
			wg.Go(func() {
				_, err := s.CreateUser(ctx, identity.User{Name: "admin", PasswordHash: "h", CreatedAt: t0})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, identity.ErrExists):
					exists++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok != 1 || exists != 7 {
			t.Errorf("%d created, %d told it exists", ok, exists)
		}
	})
}
