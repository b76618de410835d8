package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/policy"
)

type fakeSource struct {
	docs    map[string]string // user -> statements
	version int64
	loads   int
	fail    error
}

func (f *fakeSource) Version(context.Context) (int64, error) { return f.version, f.fail }

func (f *fakeSource) Load(context.Context) (policy.Set, int64, error) {
	f.loads++
	if f.fail != nil {
		return policy.Set{}, 0, f.fail
	}
	var set policy.Set
	for u, doc := range f.docs {
		p, err := policy.Parse(policy.Identity, u, []byte(`{"Version":"2026-01-01","Statement":`+doc+`}`))
		if err != nil {
			return policy.Set{}, 0, err
		}
		set.Identity = append(set.Identity, policy.Attachment{Policy: p, To: []policy.PrincipalRef{{Type: policy.User, Name: u}}})
	}
	return set, f.version, nil
}

func TestPolicyLoader(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{docs: map[string]string{"alice": `[{"Effect":"Allow","Action":"registry:Pull","Resource":"*"}]`}, version: 1}
	var h auth.EngineHolder
	l, err := auth.NewPolicyLoader(src, &h)
	if err != nil {
		t.Fatal(err)
	}
	allowed := func(user string) bool {
		return h.Load().Decide(policy.Request{Principal: policy.Principal{Type: policy.User, Name: user},
			Action: policy.ActionPull, Resource: policy.RepositoryResource("x")}).Allowed
	}
	if ok, err := l.Reload(ctx); !ok || err != nil || !allowed("alice") || allowed("bob") {
		t.Fatalf("first load: %v %v", ok, err)
	}
	if ok, err := l.Reload(ctx); ok || err != nil || src.loads != 1 {
		t.Errorf("unchanged version reloaded: %v %v loads %d", ok, err, src.loads)
	}
	src.docs["bob"] = src.docs["alice"]
	src.version = 2
	if ok, err := l.Reload(ctx); !ok || err != nil || !allowed("bob") || l.Version() != 2 {
		t.Errorf("changed version: %v %v", ok, err)
	}
	// A failing source keeps the current engine.
	src.version, src.fail = 3, errors.New("database down")
	if ok, err := l.Reload(ctx); ok || err == nil || !allowed("bob") || l.Version() != 2 {
		t.Errorf("failed reload: %v %v", ok, err)
	}
	src.fail = nil
	src.docs["carol"] = `[{"Effect":"Allow","Action":"registry:Nope","Resource":"*"}]`
	if ok, err := l.Reload(ctx); ok || err == nil || !allowed("bob") {
		t.Errorf("bad policy reload: %v %v", ok, err)
	}
	if _, err := auth.NewPolicyLoader(nil, &h); err == nil {
		t.Error("nil source accepted")
	}
}
