package policy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func mustParse(t testing.TB, kind Kind, name, doc string) *Policy {
	t.Helper()
	p, err := Parse(kind, name, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func doc(stmts ...string) string {
	s := `{"Version":"2026-01-01","Statement":[`
	for i, st := range stmts {
		if i > 0 {
			s += ","
		}
		s += st
	}
	return s + "]}"
}

func TestDecideExplainsDecision(t *testing.T) {
	id := mustParse(t, Identity, "team-a-dev", doc(
		`{"Sid":"Rw","Effect":"Allow","Action":["registry:Pull","registry:Push"],"Resource":"repository/team-a/*"}`,
		`{"Sid":"NoProd","Effect":"Deny","Action":"registry:Push","Resource":"repository/team-a/prod"}`,
	))
	e, err := Compile(Set{Identity: []Attachment{{Policy: id, To: []PrincipalRef{{Type: Group, Name: "team-a"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	alice := Principal{Type: User, Name: "alice", Groups: []string{"team-a"}}
	for _, tc := range []struct {
		action   Action
		resource string
		want     Decision
	}{
		{ActionPush, "repository/team-a/app", Decision{Allowed: true, Reason: Allowed, Policy: "team-a-dev", Kind: Identity, Statement: 0, Sid: "Rw"}},
		{ActionPush, "repository/team-a/prod", Decision{Reason: ExplicitDeny, Policy: "team-a-dev", Kind: Identity, Statement: 1, Sid: "NoProd"}},
		{ActionPull, "repository/team-a/prod", Decision{Allowed: true, Reason: Allowed, Policy: "team-a-dev", Kind: Identity, Statement: 0, Sid: "Rw"}},
		{ActionPull, "repository/team-ab/app", Decision{Reason: ImplicitDeny, Statement: -1}},
		{ActionPull, "repository/team-a", Decision{Reason: ImplicitDeny, Statement: -1}},
		{ActionDelete, "repository/team-a/app", Decision{Reason: ImplicitDeny, Statement: -1}},
		{Action("registry:Fly"), "repository/team-a/app", Decision{Reason: ImplicitDeny, Statement: -1}},
	} {
		got := e.Decide(Request{Principal: alice, Action: tc.action, Resource: tc.resource})
		if got != tc.want {
			t.Errorf("%s %s: got %v, want %v", tc.action, tc.resource, got, tc.want)
		}
	}
	if s := e.Decide(Request{Principal: alice, Action: ActionPush, Resource: "repository/team-a/prod"}).String(); s != `deny (explicit deny: identity policy "team-a-dev" statement 1 Sid "NoProd")` {
		t.Errorf("String() = %s", s)
	}
}

func TestResourcePolicyAndListener(t *testing.T) {
	public := mustParse(t, Resource, "public-base", doc(
		`{"Sid":"Anyone","Effect":"Allow","Principal":"*","Action":["registry:Pull","registry:ListTags"],"Resource":"repository/base/debian"}`,
		`{"Sid":"Pushers","Effect":"Allow","Principal":["group:platform","robot:ci"],"Action":"registry:Push","Resource":"repository/base/debian"}`,
	))
	internal := mustParse(t, Listener, "internal-only", doc(
		`{"Sid":"Office","Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":"10.0.0.0/8"}}}`,
		`{"Sid":"NoDelete","Effect":"Deny","Action":"registry:Delete","Resource":"*"}`,
	))
	admin := mustParse(t, Identity, "admin", doc(`{"Effect":"Allow","Action":"*","Resource":"*"}`))
	e, err := Compile(Set{
		Identity:     []Attachment{{Policy: admin, To: []PrincipalRef{{Type: User, Name: "root"}}}},
		Repositories: map[string][]*Policy{"base/debian": {public}},
		Listeners:    map[string]*Policy{"internal": internal},
	})
	if err != nil {
		t.Fatal(err)
	}
	anon := Principal{Type: Anonymous}
	inside := Context{SourceIP: netip.MustParseAddr("10.1.2.3"), Listener: "internal"}
	outside := Context{SourceIP: netip.MustParseAddr("192.0.2.1"), Listener: "internal"}
	for i, tc := range []struct {
		p        Principal
		a        Action
		res      string
		ctx      Context
		allowed  bool
		reason   Reason
		decideBy string
	}{
		{anon, ActionPull, "repository/base/debian", Context{}, true, Allowed, "Anyone"},
		{anon, ActionPush, "repository/base/debian", Context{}, false, ImplicitDeny, ""},
		{Principal{Type: User, Name: "bob", Groups: []string{"platform"}}, ActionPush, "repository/base/debian", Context{}, true, Allowed, "Pushers"},
		{Principal{Type: Robot, Name: "ci"}, ActionPush, "repository/base/debian", Context{}, true, Allowed, "Pushers"},
		{Principal{Type: Robot, Name: "platform"}, ActionPush, "repository/base/debian", Context{}, false, ImplicitDeny, ""},
		{Principal{Type: User, Name: "ci"}, ActionPush, "repository/base/debian", Context{}, false, ImplicitDeny, ""},
		{anon, ActionPull, "repository/base/debian", inside, true, Allowed, "Anyone"},
		{anon, ActionPull, "repository/base/debian", outside, false, ListenerImplicitDeny, ""},
		{Principal{Type: User, Name: "root"}, ActionDelete, "repository/x", Context{}, true, Allowed, ""},
		{Principal{Type: User, Name: "root"}, ActionDelete, "repository/x", inside, false, ListenerDeny, "NoDelete"},
		{Principal{Type: User, Name: "root"}, ActionPush, "repository/x", Context{SourceIP: inside.SourceIP, Listener: "public"}, true, Allowed, ""},
	} {
		got := e.Decide(Request{Principal: tc.p, Action: tc.a, Resource: tc.res, Context: tc.ctx})
		if got.Allowed != tc.allowed || got.Reason != tc.reason || got.Sid != tc.decideBy {
			t.Errorf("case %d: got %v, want allowed=%v reason=%q sid=%q", i, got, tc.allowed, tc.reason, tc.decideBy)
		}
	}
	if d := e.Decide(Request{Principal: anon, Action: ActionPull, Resource: "repository/base/debian", Context: outside}); d.Policy != "internal-only" {
		t.Errorf("listener implicit deny names %q", d.Policy)
	}
}

func TestConditions(t *testing.T) {
	p := mustParse(t, Identity, "c", doc(
		`{"Sid":"Net","Effect":"Allow","Action":"registry:Pull","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}`,
		`{"Sid":"Hours","Effect":"Allow","Action":"registry:Push","Resource":"*","Condition":{"TimeOfDay":{"moat:CurrentTime":"22:00-06:00"}}}`,
		`{"Sid":"Until","Effect":"Allow","Action":"registry:Delete","Resource":"*","Condition":{"DateGreaterThan":{"moat:CurrentTime":"2026-01-01T00:00:00Z"},"DateLessThan":{"moat:CurrentTime":"2027-01-01T00:00:00Z"}}}`,
		`{"Sid":"Cert","Effect":"Allow","Action":"registry:ListTags","Resource":"*","Condition":{"StringLike":{"moat:ClientCertSubject":"CN=ci-*"}}}`,
		`{"Sid":"NotCert","Effect":"Deny","Action":"registry:ListTags","Resource":"*","Condition":{"StringNotEquals":{"moat:Listener":"mtls"}}}`,
		`{"Sid":"Robots","Effect":"Allow","Action":"scan:Read","Resource":"*","Condition":{"StringEquals":{"moat:PrincipalType":"robot"}}}`,
		`{"Sid":"Outside","Effect":"Allow","Action":"scan:Write","Resource":"*","Condition":{"NotIpAddress":{"moat:SourceIp":"10.0.0.0/8"}}}`,
	))
	e, err := Compile(Set{Identity: []Attachment{{Policy: p, To: []PrincipalRef{{Type: User, Name: "u"}, {Type: Robot, Name: "u"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	u := Principal{Type: User, Name: "u"}
	for i, tc := range []struct {
		p    Principal
		a    Action
		ctx  Context
		want bool
	}{
		{u, ActionPull, Context{SourceIP: netip.MustParseAddr("10.9.9.9")}, true},
		{u, ActionPull, Context{SourceIP: netip.MustParseAddr("::ffff:10.9.9.9")}, true},
		{u, ActionPull, Context{SourceIP: netip.MustParseAddr("2001:db8::1")}, true},
		{u, ActionPull, Context{SourceIP: netip.MustParseAddr("11.0.0.1")}, false},
		{u, ActionPull, Context{}, false},
		{u, ActionPush, Context{Time: at("2026-05-01T23:30:00Z")}, true},
		{u, ActionPush, Context{Time: at("2026-05-01T05:59:00Z")}, true},
		{u, ActionPush, Context{Time: at("2026-05-01T06:00:00Z")}, false},
		{u, ActionPush, Context{Time: at("2026-05-01T12:00:00+02:00")}, false},
		{u, ActionPush, Context{}, false},
		{u, ActionDelete, Context{Time: at("2026-06-01T00:00:00Z")}, true},
		{u, ActionDelete, Context{Time: at("2027-06-01T00:00:00Z")}, false},
		{u, ActionDelete, Context{Time: at("2025-06-01T00:00:00Z")}, false},
		{u, ActionListTags, Context{ClientCertSubject: "CN=ci-7,O=Acme", Listener: "mtls"}, true},
		{u, ActionListTags, Context{ClientCertSubject: "CN=ci-7,O=Acme", Listener: "plain"}, false},
		{u, ActionListTags, Context{ClientCertSubject: "CN=dev,O=Acme", Listener: "mtls"}, false},
		{u, ActionListTags, Context{Listener: "mtls"}, false},
		{u, ActionScanRead, Context{}, false},
		{Principal{Type: Robot, Name: "u"}, ActionScanRead, Context{}, true},
		{u, ActionScanWrite, Context{SourceIP: netip.MustParseAddr("10.0.0.1")}, false},
		{u, ActionScanWrite, Context{SourceIP: netip.MustParseAddr("192.0.2.1")}, true},
		{u, ActionScanWrite, Context{}, true},
	} {
		got := e.Decide(Request{Principal: tc.p, Action: tc.a, Resource: "repository/r", Context: tc.ctx})
		if got.Allowed != tc.want {
			t.Errorf("case %d (%s %+v): got %v", i, tc.a, tc.ctx, got)
		}
	}
}

func TestDecideAny(t *testing.T) {
	a := mustParse(t, Identity, "a", doc(`{"Effect":"Allow","Action":"registry:ListRepositories","Resource":"repository/team-a/*"}`))
	d := mustParse(t, Identity, "d", doc(
		`{"Effect":"Allow","Action":"registry:ListRepositories","Resource":"repository/team-a/*"}`,
		`{"Effect":"Deny","Action":"registry:ListRepositories","Resource":"repository/*"}`))
	d2 := mustParse(t, Identity, "d2", doc(
		`{"Effect":"Allow","Action":"registry:ListRepositories","Resource":"repository/team-a/*"}`,
		`{"Effect":"Deny","Action":"registry:ListRepositories","Resource":"repository/team-a/x"}`))
	rp := mustParse(t, Resource, "rp", doc(`{"Effect":"Allow","Principal":"user:r","Action":"registry:ListRepositories","Resource":"repository/pub"}`))
	e, err := Compile(Set{
		Identity: []Attachment{
			{Policy: a, To: []PrincipalRef{{Type: User, Name: "a"}}},
			{Policy: d, To: []PrincipalRef{{Type: User, Name: "d"}}},
			{Policy: d2, To: []PrincipalRef{{Type: User, Name: "d2"}}},
		},
		Repositories: map[string][]*Policy{"pub": {rp}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"a": true, "d": false, "d2": true, "r": true, "nobody": false} {
		got := e.DecideAny(Request{Principal: Principal{Type: User, Name: name}, Action: ActionListRepositories})
		if got.Allowed != want {
			t.Errorf("%s: %v", name, got)
		}
	}
}

func TestCompileRejectsWrongKinds(t *testing.T) {
	id := mustParse(t, Identity, "i", doc(`{"Effect":"Allow","Action":"*","Resource":"*"}`))
	for _, set := range []Set{
		{Repositories: map[string][]*Policy{"x": {id}}},
		{Listeners: map[string]*Policy{"x": id}},
		{Identity: []Attachment{{Policy: id, To: []PrincipalRef{{Type: Anonymous, Name: "x"}}}}},
		{Identity: []Attachment{{Policy: nil}}},
	} {
		if _, err := Compile(set); err == nil {
			t.Errorf("compiled %+v", set)
		}
	}
}

// TestDeterministicDecider: with many matching statements the decision
// names the first by attachment order, whichever index found it.
func TestDeterministicDecider(t *testing.T) {
	var atts []Attachment
	for i := range 20 {
		p := mustParse(t, Identity, fmt.Sprintf("p%02d", i), doc(
			`{"Effect":"Allow","Action":"*","Resource":"*"}`,
			`{"Effect":"Allow","Action":"registry:Pull","Resource":"repository/a/*"}`,
			`{"Effect":"Allow","Action":"registry:Pull","Resource":"repository/a/b"}`))
		atts = append(atts, Attachment{Policy: p, To: []PrincipalRef{{Type: Group, Name: fmt.Sprint("g", i%3)}}})
	}
	e, err := Compile(Set{Identity: atts})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		d := e.Decide(Request{Principal: Principal{Type: User, Name: "x", Groups: []string{"g2", "g1", "g0"}}, Action: ActionPull, Resource: "repository/a/b"})
		if d.Policy != "p00" || d.Statement != 0 {
			t.Fatalf("decided by %v", d)
		}
	}
}
