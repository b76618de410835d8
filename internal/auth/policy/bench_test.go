package policy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkDecide: one decision with 1,000 identity policies, 200
// resource policies and a listener policy loaded (bench/auth prints the
// latency distribution for the same shape).
func BenchmarkDecide(b *testing.B) {
	var set Set
	for i := range 1000 {
		p := mustParse(b, Identity, fmt.Sprintf("team-%03d", i), fmt.Sprintf(`{"Version":"2026-01-01","Statement":[
			{"Effect":"Allow","Action":["registry:Pull","registry:Push"],"Resource":"repository/team-%03d/*","Condition":{"IpAddress":{"moat:SourceIp":"10.0.0.0/8"}}},
			{"Effect":"Deny","Action":"registry:Delete","Resource":"repository/team-%03d/prod"}]}`, i, i))
		set.Identity = append(set.Identity, Attachment{Policy: p, To: []PrincipalRef{{Type: Group, Name: fmt.Sprintf("team-%03d", i)}}})
	}
	set.Repositories = map[string][]*Policy{}
	for i := range 200 {
		repo := fmt.Sprintf("team-%03d/app", i)
		set.Repositories[repo] = []*Policy{mustParse(b, Resource, "rp-"+repo, fmt.Sprintf(`{"Version":"2026-01-01","Statement":[
			{"Effect":"Allow","Principal":"robot:ci-%03d","Action":"registry:Pull","Resource":"repository/%s"}]}`, i, repo))}
	}
	set.Listeners = map[string]*Policy{"private": mustParse(b, Listener, "private", `{"Version":"2026-01-01","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":"10.0.0.0/8"}}}]}`)}
	e, err := Compile(set)
	if err != nil {
		b.Fatal(err)
	}
	r := Request{
		Principal: Principal{Type: User, Name: "alice", Groups: []string{"team-042", "team-777", "team-999"}},
		Action:    ActionPush,
		Resource:  "repository/team-042/svc/api",
		Context:   Context{SourceIP: netip.MustParseAddr("10.1.2.3"), Time: time.Now(), Listener: "private"},
	}
	if !e.Decide(r).Allowed {
		b.Fatal("benchmark request denied")
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Decide(r)
	}
}
