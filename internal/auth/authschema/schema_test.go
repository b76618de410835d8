package authschema_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/sqlidentity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/policystore"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

var engines = map[string]func(t *testing.T) string{
	"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "moat.db") },
	"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
}

type stores struct {
	ids      *identity.Service
	idStore  *sqlidentity.Store
	policies *policystore.Store
}

func open(t *testing.T, dsn string) stores {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	is, err := sqlidentity.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := policystore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.NewService(is, identity.WithArgon2(identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	if err != nil {
		t.Fatal(err)
	}
	return stores{ids, is, ps}
}

const rw = `{"Version":"2026-01-01","Statement":[{"Sid":"Rw","Effect":"Allow","Action":["registry:Pull","registry:Push"],"Resource":"repository/team-a/*"}]}`

func targets(t *testing.T, ps *policystore.Store, name string) []policystore.Target {
	t.Helper()
	all, _, err := ps.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.Name == name {
			return p.Targets
		}
	}
	t.Fatalf("no policy %q", name)
	return nil
}

// TestDeleteAccountDeletesAttachments (#10 finding 4): deleting a user,
// group or robot deletes its policy attachments with it and bumps the
// policy version, so an account re-created under the same name starts
// with nothing attached and another id.
func TestDeleteAccountDeletesAttachments(t *testing.T) {
	for name, dsn := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, dsn(t))
			if err := s.policies.Put(ctx, "rw", policy.Identity, []byte(rw)); err != nil {
				t.Fatal(err)
			}
			u, err := s.ids.CreateUser(ctx, "bob", "bob-password-1")
			if err != nil {
				t.Fatal(err)
			}
			g, err := s.ids.CreateGroup(ctx, "team")
			if err != nil {
				t.Fatal(err)
			}
			r, _, err := s.ids.CreateRobot(ctx, "ci-del", identity.RobotOptions{})
			if err != nil {
				t.Fatal(err)
			}
			all := []policystore.Target{{Type: policystore.TargetGroup, Name: "team"}, {Type: policystore.TargetRobot, Name: "ci-del"}, {Type: policystore.TargetUser, Name: "bob"}}
			for _, tg := range all {
				if err := s.policies.Attach(ctx, "rw", tg); err != nil {
					t.Fatal(err)
				}
			}
			for i, del := range []func() error{
				func() error { return s.ids.DeleteGroup(ctx, "team") },
				func() error { return s.ids.DeleteRobot(ctx, "ci-del") },
				func() error { return s.ids.DeleteUser(ctx, "bob") },
			} {
				v0, _ := s.policies.Version(ctx)
				if err := del(); err != nil {
					t.Fatal(err)
				}
				if got := targets(t, s.policies, "rw"); !slices.Equal(got, all[i+1:]) {
					t.Errorf("after deleting %v: attachments %v, want %v", all[i], got, all[i+1:])
				}
				if v, _ := s.policies.Version(ctx); v <= v0 {
					t.Errorf("deleting %v left the policy version at %d", all[i], v)
				}
			}
			set, _, err := s.policies.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e, err := policy.Compile(set)
			if err != nil {
				t.Fatal(err)
			}
			r2, _, err := s.ids.CreateRobot(ctx, "ci-del", identity.RobotOptions{})
			if err != nil {
				t.Fatal(err)
			}
			u2, err := s.ids.CreateUser(ctx, "bob", "bob-password-2")
			if err != nil {
				t.Fatal(err)
			}
			g2, err := s.ids.CreateGroup(ctx, "team")
			if err != nil {
				t.Fatal(err)
			}
			if r2.ID == r.ID || u2.ID == u.ID || g2.ID == g.ID {
				t.Errorf("re-created accounts reuse ids: robot %d/%d user %d/%d group %d/%d", r.ID, r2.ID, u.ID, u2.ID, g.ID, g2.ID)
			}
			for _, p := range []policy.Principal{{Type: policy.Robot, Name: "ci-del"}, {Type: policy.User, Name: "bob", Groups: []string{"team"}}} {
				if d := e.Decide(policy.Request{Principal: p, Action: policy.ActionPush, Resource: "repository/team-a/app"}); d.Allowed {
					t.Errorf("re-created %v inherits the old policy: %v", p, d)
				}
			}
		})
	}
}

// TestAttachNeedsAccount: a policy attaches only to an existing user,
// group or robot; repositories and listeners need not exist.
func TestAttachNeedsAccount(t *testing.T) {
	for name, dsn := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, dsn(t))
			if err := s.policies.Put(ctx, "rw", policy.Identity, []byte(rw)); err != nil {
				t.Fatal(err)
			}
			v0, _ := s.policies.Version(ctx)
			for _, tg := range []policystore.Target{{Type: policystore.TargetUser, Name: "nobody"}, {Type: policystore.TargetGroup, Name: "nogroup"}, {Type: policystore.TargetRobot, Name: "norobot"}} {
				err := s.policies.Attach(ctx, "rw", tg)
				if !errors.Is(err, policystore.ErrNotFound) {
					t.Errorf("attach to missing %v: %v", tg, err)
				} else if want := string(tg.Type) + ` "` + tg.Name + `": not found`; err.Error() != want {
					t.Errorf("attach to missing %v says %q, want %q", tg, err, want)
				}
			}
			if v, _ := s.policies.Version(ctx); v != v0 {
				t.Error("refused attachments bumped the version")
			}
			if got := targets(t, s.policies, "rw"); len(got) != 0 {
				t.Errorf("refused attachments stored: %v", got)
			}
			// Detaching from a missing account is a no-op, not an error.
			if err := s.policies.Detach(ctx, "rw", policystore.Target{Type: policystore.TargetUser, Name: "nobody"}); err != nil {
				t.Errorf("detach from missing user: %v", err)
			}
		})
	}
}

// TestExistingDatabase: a database written before this package opens,
// keeps its accounts, tokens, policies and live attachments, loses the
// attachments to accounts that no longer exist, and hands out ids above
// every existing one.
func TestExistingDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moat.db")
	copyFile(t, "testdata/auth-v1.db", path)
	s := open(t, path)
	if _, err := s.ids.Authenticate(ctx, "alice", "alice-password-1"); err != nil {
		t.Errorf("alice's password: %v", err)
	}
	if ms, err := s.ids.Members(ctx, "team-a"); err != nil || !slices.Equal(ms, []string{"alice"}) {
		t.Errorf("team-a members %v %v", ms, err)
	}
	ts, err := s.ids.AccessTokens(ctx, "alice")
	if err != nil || len(ts) != 1 || ts[0].Description != "laptop" {
		t.Errorf("alice's tokens %+v %v", ts, err)
	}
	want := []policystore.Target{{Type: policystore.TargetGroup, Name: "team-a"}, {Type: policystore.TargetRobot, Name: "ci"}}
	if got := targets(t, s.policies, "team-a-rw"); !slices.Equal(got, want) {
		t.Errorf("attachments %v, want %v (orphans dropped, the rest kept)", got, want)
	}
	var maxID int64
	us, _ := s.ids.Users(ctx)
	rs, _ := s.ids.Robots(ctx)
	gs, _ := s.ids.Groups(ctx)
	for _, id := range []int64{us[0].ID, us[1].ID, rs[0].ID, gs[0].ID, ts[0].ID} {
		maxID = max(maxID, id)
	}
	r, _, err := s.ids.CreateRobot(ctx, "gone", identity.RobotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID <= maxID {
		t.Errorf("new robot id %d, not above the existing %d", r.ID, maxID)
	}
	if _, err := s.idStore.Generation(ctx); err != nil {
		t.Error(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
