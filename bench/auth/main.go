// Command auth measures the latency the policy engine adds to a request
// with 1,000 policies loaded, and prints p50, p99 and p99.9.
//
//	go run ./bench/auth [-n 200000]
//
// Two layouts are measured: 1,000 identity policies spread over 1,000
// groups (a user in 3 of them), and 1,000 policies all attached to one
// group the user is in (the worst case for the per-principal index). Both
// also load 200 repository resource policies and a listener policy.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/moat-dev/moat/internal/auth/policy"
)

func main() {
	n := flag.Int("n", 200000, "decisions per layout")
	flag.Parse()
	for _, layout := range []string{"spread", "one-group"} {
		e, err := build(layout)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		lat := run(e, *n)
		fmt.Printf("%-10s policies=1000+200 resource+1 listener decisions=%d  p50=%v  p99=%v  p99.9=%v  max=%v\n",
			layout, *n, pct(lat, 50), pct(lat, 99), pct(lat, 99.9), lat[len(lat)-1])
	}
}

func build(layout string) (*policy.Engine, error) {
	var set policy.Set
	for i := range 1000 {
		doc := fmt.Sprintf(`{"Version":"2026-01-01","Statement":[
			{"Sid":"Rw","Effect":"Allow","Action":["registry:Pull","registry:Push","registry:ListTags"],"Resource":"repository/team-%03d/*",
			 "Condition":{"IpAddress":{"moat:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}},
			{"Sid":"NoProd","Effect":"Deny","Action":"registry:Delete","Resource":"repository/team-%03d/prod"},
			{"Sid":"Shared","Effect":"Allow","Action":"registry:Pull","Resource":["repository/shared/base-%03d","repository/mirror/*"]}]}`, i, i, i)
		p, err := policy.Parse(policy.Identity, fmt.Sprintf("team-%03d", i), []byte(doc))
		if err != nil {
			return nil, err
		}
		group := fmt.Sprintf("team-%03d", i)
		if layout == "one-group" {
			group = "everyone"
		}
		set.Identity = append(set.Identity, policy.Attachment{Policy: p, To: []policy.PrincipalRef{{Type: policy.Group, Name: group}}})
	}
	set.Repositories = map[string][]*policy.Policy{}
	for i := range 200 {
		repo := fmt.Sprintf("team-%03d/app", i)
		doc := fmt.Sprintf(`{"Version":"2026-01-01","Statement":[
			{"Effect":"Allow","Principal":["robot:ci-%03d","group:auditors"],"Action":"registry:Pull","Resource":"repository/%s"}]}`, i, repo)
		p, err := policy.Parse(policy.Resource, "rp-"+repo, []byte(doc))
		if err != nil {
			return nil, err
		}
		set.Repositories[repo] = []*policy.Policy{p}
	}
	lp, err := policy.Parse(policy.Listener, "private", []byte(`{"Version":"2026-01-01","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":"10.0.0.0/8"}}},
		{"Effect":"Deny","Action":"admin:*","Resource":"*"}]}`))
	if err != nil {
		return nil, err
	}
	set.Listeners = map[string]*policy.Policy{"private": lp}
	return policy.Compile(set)
}

func run(e *policy.Engine, n int) []time.Duration {
	rng := rand.New(rand.NewPCG(1, 2))
	actions := []policy.Action{policy.ActionPull, policy.ActionPush, policy.ActionDelete, policy.ActionListTags}
	reqs := make([]policy.Request, 4096)
	for i := range reqs {
		team := rng.IntN(1000)
		reqs[i] = policy.Request{
			Principal: policy.Principal{Type: policy.User, Name: "alice", Groups: []string{
				fmt.Sprintf("team-%03d", team), fmt.Sprintf("team-%03d", rng.IntN(1000)), "everyone"}},
			Action:   actions[rng.IntN(len(actions))],
			Resource: policy.RepositoryResource(fmt.Sprintf("team-%03d/%s", rng.IntN(1000), []string{"app", "prod", "svc/api/v2"}[rng.IntN(3)])),
			Context:  policy.Context{SourceIP: netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), 1, 1}), Time: time.Now(), Listener: "private"},
		}
	}
	lat := make([]time.Duration, n)
	allowed := 0
	for i := range n {
		r := reqs[i%len(reqs)]
		start := time.Now()
		d := e.Decide(r)
		lat[i] = time.Since(start)
		if d.Allowed {
			allowed++
		}
	}
	if allowed == 0 || allowed == n {
		fmt.Fprintf(os.Stderr, "suspicious workload: %d of %d allowed\n", allowed, n)
	}
	slices.Sort(lat)
	return lat
}

func pct(lat []time.Duration, p float64) time.Duration {
	return lat[min(len(lat)-1, int(float64(len(lat))*p/100))]
}
