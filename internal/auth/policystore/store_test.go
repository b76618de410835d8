package policystore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/sqlidentity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

func TestStore(t *testing.T) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "moat.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	} {
		t.Run(name, func(t *testing.T) { testStore(t, dsn(t)) })
	}
}

const (
	teamA  = `{"Version":"2026-01-01","Statement":[{"Sid":"Rw","Effect":"Allow","Action":["registry:Pull","registry:Push"],"Resource":"repository/team-a/*"}]}`
	public = `{"Version":"2026-01-01","Statement":[{"Sid":"Anyone","Effect":"Allow","Principal":"*","Action":"registry:Pull","Resource":"repository/library/base"}]}`
	vpc    = `{"Version":"2026-01-01","Statement":[{"Sid":"Vpc","Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":"10.0.0.0/8"}}}]}`
)

func testStore(t *testing.T, dsn string) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	// The accounts policies are attached to must exist.
	ids, err := sqlidentity.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CreateGroup(ctx, "team-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := ids.CreateRobot(ctx, identity.Robot{Name: "ci", SecretHash: []byte{1}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	v0, _ := s.Version(ctx)

	// A malformed document is refused with the parser's error; nothing is stored.
	err = s.Put(ctx, "bad", policy.Identity, []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"registry:Pul","Resource":"*"}]}`))
	var pe *policy.ParseError
	if !errors.As(err, &pe) || !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("bad document: %v", err)
	}
	if ps, _, _ := s.List(ctx); len(ps) != 0 {
		t.Fatalf("bad document stored: %+v", ps)
	}
	if v, _ := s.Version(ctx); v != v0 {
		t.Error("refused put bumped the version")
	}

	for _, p := range []struct {
		name string
		kind policy.Kind
		doc  string
	}{{"team-a", policy.Identity, teamA}, {"public-base", policy.Resource, public}, {"vpc", policy.Listener, vpc}, {"vpc2", policy.Listener, vpc}} {
		if err := s.Put(ctx, p.name, p.kind, []byte(p.doc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "team-a", policy.Resource, []byte(public)); !errors.Is(err, ErrInvalid) {
		t.Errorf("kind change: %v", err)
	}
	for _, a := range []struct {
		name string
		t    Target
		want error
	}{
		{"team-a", Target{TargetGroup, "team-a"}, nil},
		{"team-a", Target{TargetGroup, "team-a"}, nil}, // again: no-op
		{"team-a", Target{TargetRobot, "ci"}, nil},
		{"public-base", Target{TargetRepository, "library/base"}, nil},
		{"vpc", Target{TargetListener, "private"}, nil},
		{"vpc2", Target{TargetListener, "private"}, ErrInvalid},
		{"team-a", Target{TargetRepository, "x"}, ErrInvalid},
		{"public-base", Target{TargetUser, "alice"}, ErrInvalid},
		{"vpc", Target{TargetGroup, "g"}, ErrInvalid},
		{"team-a", Target{TargetUser, ""}, ErrInvalid},
		{"missing", Target{TargetUser, "alice"}, ErrNotFound},
	} {
		if err := s.Attach(ctx, a.name, a.t); !errors.Is(err, a.want) || (a.want == nil) != (err == nil) {
			t.Errorf("attach %s to %v: %v, want %v", a.name, a.t, err, a.want)
		}
	}

	set, ver, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ver <= v0 {
		t.Errorf("version %d after changes, was %d", ver, v0)
	}
	e, err := policy.Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	ci := policy.Principal{Type: policy.Robot, Name: "ci"}
	if d := e.Decide(policy.Request{Principal: ci, Action: policy.ActionPush, Resource: "repository/team-a/app"}); !d.Allowed || d.Policy != "team-a" || d.Sid != "Rw" {
		t.Errorf("robot ci push: %v", d)
	}
	anon := policy.Principal{Type: policy.Anonymous}
	if d := e.Decide(policy.Request{Principal: anon, Action: policy.ActionPull, Resource: "repository/library/base"}); !d.Allowed {
		t.Errorf("public pull: %v", d)
	}
	if d := e.Decide(policy.Request{Principal: anon, Action: policy.ActionPull, Resource: "repository/library/base",
		Context: policy.Context{Listener: "private"}}); d.Allowed || d.Policy != "vpc" {
		t.Errorf("listener bound not loaded: %v", d)
	}

	// Replace a document: attachments stay, the new statements apply.
	if err := s.Put(ctx, "team-a", policy.Identity, []byte(`{"Version":"2026-01-01","Statement":[{"Sid":"Ro","Effect":"Allow","Action":"registry:Pull","Resource":"repository/team-a/*"}]}`)); err != nil {
		t.Fatal(err)
	}
	set, _, _ = s.Load(ctx)
	e, _ = policy.Compile(set)
	if d := e.Decide(policy.Request{Principal: ci, Action: policy.ActionPush, Resource: "repository/team-a/app"}); d.Allowed {
		t.Errorf("push after the policy became read-only: %v", d)
	}
	if err := s.Detach(ctx, "team-a", Target{TargetRobot, "ci"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "vpc"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "vpc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	ps, _, err := s.List(ctx)
	if err != nil || len(ps) != 3 {
		t.Fatalf("list: %+v %v", ps, err)
	}
	if ps[1].Name != "team-a" || len(ps[1].Targets) != 1 || ps[1].Targets[0] != (Target{TargetGroup, "team-a"}) {
		t.Errorf("team-a after detach: %+v", ps[1])
	}
	// The listener's policy is gone, so another may take its place.
	if err := s.Attach(ctx, "vpc2", Target{TargetListener, "private"}); err != nil {
		t.Errorf("attach after delete: %v", err)
	}
}
