package policy

import (
	"encoding/json"
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"Version":"2026-01-01","Statement":[{"Sid":"A","Effect":"Allow","Action":["registry:Pull","registry:List*"],"Resource":["repository/team-a/*","registry"]}]}`,
		`{"Version":"2026-01-01","Statement":[{"Effect":"Deny","Principal":["user:alice","group:dev"],"Action":"*","Resource":"*","Condition":{"NotIpAddress":{"moat:SourceIp":["10.0.0.0/8","::1"]},"TimeOfDay":{"moat:CurrentTime":"22:00-06:00"}}}]}`,
		`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"moat:ClientCertSubject":"CN=*"},"DateGreaterThan":{"moat:CurrentTime":"2026-01-01T00:00:00Z"}}}]}`,
		`{"Version":"2026-01-01","Statement":[{"Effect":"Deny","effect":"Allow","Action":"*","Resource":"*"}]}`,
		`[[[[`,
	} {
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, doc string, kind uint8) {
		k := Kind(kind%3 + 1)
		p, err := Parse(k, "fuzz", []byte(doc))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// An accepted document re-encodes to one that parses the same way.
		b, err := json.Marshal(p.Document)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse(k, "fuzz", b)
		if err != nil {
			t.Fatalf("re-encoded %s fails: %v", b, err)
		}
		if len(q.stmts) != len(p.stmts) {
			t.Fatalf("statement count changed")
		}
		for i := range p.stmts {
			if p.stmts[i].actions != q.stmts[i].actions || len(p.stmts[i].resources) != len(q.stmts[i].resources) {
				t.Fatalf("statement %d changed on re-encoding", i)
			}
		}
		// Compiling and deciding never panic.
		set := Set{}
		switch k {
		case Identity:
			set.Identity = []Attachment{{Policy: p, To: []PrincipalRef{{Type: User, Name: "u"}}}}
		case Resource:
			set.Repositories = map[string][]*Policy{"a/b": {p}}
		case Listener:
			set.Listeners = map[string]*Policy{"l": p}
		}
		e, err := Compile(set)
		if err != nil {
			t.Fatal(err)
		}
		r := Request{Principal: Principal{Type: User, Name: "u"}, Action: ActionPull, Resource: "repository/a/b"}
		r.Context.Listener = "l"
		e.Decide(r)
		e.DecideAny(r)
	})
}
