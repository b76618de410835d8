package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	doc := `{
	  "Version": "2026-01-01",
	  "Statement": [
	    {"Sid": "Pull", "Effect": "Allow", "Action": "registry:Pull", "Resource": "repository/team-a/*"},
	    {"Effect": "Deny", "Action": ["registry:Push", "registry:Delete"], "Resource": ["repository/team-a/prod", "registry"],
	     "Condition": {"NotIpAddress": {"moat:SourceIp": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]},
	                   "DateLessThan": {"moat:CurrentTime": "2030-01-01T00:00:00Z"},
	                   "TimeOfDay": {"moat:currenttime": "22:00-06:00"},
	                   "StringLike": {"moat:ClientCertSubject": "CN=ci-*,O=Acme"}}}
	  ]
	}`
	p, err := Parse(Identity, "team-a", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.stmts) != 2 || p.stmts[1].effect != Deny || len(p.stmts[1].conds) != 4 {
		t.Fatalf("compiled %+v", p.stmts)
	}
	if got := p.stmts[0].resources[0].String(); got != "repository/team-a/*" {
		t.Errorf("resource renders as %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	stmt := func(s string) string {
		return `{"Version":"2026-01-01","Statement":[` + s + `]}`
	}
	for _, tc := range []struct {
		name, kind, doc, want string
	}{
		{"not json", "i", `{`, "decode JSON"},
		{"trailing", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*"}`) + `{}`, "trailing data"},
		{"unknown top field", "i", `{"Version":"2026-01-01","Statements":[]}`, `unknown field "Statements"`},
		{"unknown stmt field", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","NotAction":"x"}`), `unknown field "NotAction"`},
		{"dup key case", "i", stmt(`{"Effect":"Deny","effect":"Allow","Action":"*","Resource":"*"}`), "duplicate key"},
		{"wrong version", "i", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, `want "2026-01-01"`},
		{"no statements", "i", `{"Version":"2026-01-01","Statement":[]}`, "no statements"},
		{"bad effect", "i", stmt(`{"Effect":"allow","Action":"*","Resource":"*"}`), `Effect "allow"`},
		{"no action", "i", stmt(`{"Effect":"Allow","Resource":"*"}`), "no Action"},
		{"action not string", "i", stmt(`{"Effect":"Allow","Action":5,"Resource":"*"}`), "string or a list"},
		{"action no colon", "i", stmt(`{"Effect":"Allow","Action":"Pull","Resource":"*"}`), `"service:Name"`},
		{"action unknown", "i", stmt(`{"Effect":"Allow","Action":"registry:Pul","Resource":"*"}`), "names no known action"},
		{"action mid wildcard", "i", stmt(`{"Effect":"Allow","Action":"registry:*ull","Resource":"*"}`), "one trailing"},
		{"action unknown service", "i", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*"}`), "names no known action"},
		{"no resource", "i", stmt(`{"Effect":"Allow","Action":"*"}`), "no Resource"},
		{"resource type", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"repo/x"}`), `resource "repo/x"`},
		{"resource partial wildcard", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"repository/team-a*"}`), "whole last path segment"},
		{"resource mid wildcard", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"repository/*/app"}`), "whole last path segment"},
		{"resource uppercase", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"repository/Team"}`), "not a valid repository path component"},
		{"resource empty component", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"repository/a//b"}`), "not a valid repository path component"},
		{"principal in identity", "i", stmt(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}`), "take no Principal"},
		{"principal missing", "r", stmt(`{"Effect":"Allow","Action":"*","Resource":"*"}`), "need a Principal"},
		{"principal bad", "r", stmt(`{"Effect":"Allow","Principal":"admin","Action":"*","Resource":"*"}`), `principal "admin"`},
		{"principal bad type", "r", stmt(`{"Effect":"Allow","Principal":"role:x","Action":"*","Resource":"*"}`), `principal "role:x"`},
		{"bad cidr", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":"10.0.0.0/33"}}}`), "not a CIDR"},
		{"host bits", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":"10.0.0.1/8"}}}`), "host bits"},
		{"bad ip", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":"ten"}}}`), "not an IP address"},
		{"op key mismatch", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:Listener":"x"}}}`), "does not apply to key"},
		{"unknown op", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpMatch":{"moat:SourceIp":"1.2.3.4"}}}`), "unknown condition operator"},
		{"unknown key", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":"x"}}}`), "does not apply to key"},
		{"bad date", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"moat:CurrentTime":"tomorrow"}}}`), "RFC 3339"},
		{"bad window", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"TimeOfDay":{"moat:CurrentTime":"9-17"}}}`), "not HH:MM"},
		{"empty window", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"TimeOfDay":{"moat:CurrentTime":"09:00-09:00"}}}`), "empty window"},
		{"empty values", "i", stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"moat:SourceIp":[]}}}`), "no values"},
		{"dup sid", "i", stmt(`{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"a","Effect":"Allow","Action":"*","Resource":"*"}`), "duplicate Sid"},
		{"bad sid", "i", stmt(`{"Sid":"a b","Effect":"Allow","Action":"*","Resource":"*"}`), "Sid"},
		{"deep", "i", strings.Repeat("[", 40) + strings.Repeat("]", 40), "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind := map[string]Kind{"i": Identity, "r": Resource}[tc.kind]
			_, err := Parse(kind, "p", []byte(tc.doc))
			if err == nil {
				t.Fatalf("parsed %s", tc.doc)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Policy != "p" {
				t.Errorf("error %v is not a *ParseError naming the policy", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

func TestParseErrorNamesStatement(t *testing.T) {
	_, err := Parse(Identity, "p", []byte(`{"Version":"2026-01-01","Statement":[
		{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Sid":"Second","Effect":"Allow","Action":"nope","Resource":"*"}]}`))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Statement != 1 || pe.Sid != "Second" {
		t.Fatalf("got %v", err)
	}
	if want := `policy "p" statement 1 (Sid "Second")`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestParseLimits(t *testing.T) {
	big := `{"Version":"2026-01-01","Statement":[` + strings.Repeat(`{"Effect":"Allow","Action":"*","Resource":"*"},`, MaxStatements) +
		`{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	if _, err := Parse(Identity, "p", []byte(big)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("too many statements: %v", err)
	}
	huge := make([]byte, MaxDocumentBytes+1)
	if _, err := Parse(Identity, "p", huge); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("huge document: %v", err)
	}
	if _, err := Parse(Kind(9), "p", []byte(`{}`)); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := Parse(Identity, "", []byte(`{}`)); err == nil {
		t.Error("empty name accepted")
	}
}

func TestCompileAction(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    []Action
	}{
		{"registry:Pull", []Action{ActionPull}},
		{"REGISTRY:pull", []Action{ActionPull}},
		{"registry:List*", []Action{ActionListTags, ActionListRepositories}},
		{"admin:*", []Action{ActionAdminIdentities, ActionAdminPolicies, ActionAdminAudit, ActionAdminRegistry}},
		{"scan:*", []Action{ActionScanRead, ActionScanWrite, ActionScanBypassPullGate}},
		{"*", Actions()},
	} {
		set, err := compileAction(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		var want actionSet
		for _, a := range tc.want {
			b, _ := actionBit(a)
			want |= b
		}
		if set != want {
			t.Errorf("%s: set %b, want %b", tc.pattern, set, want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"CN=ci-*,O=Acme", "CN=ci-42,O=Acme", true},
		{"CN=ci-*,O=Acme", "CN=ci-42,O=Evil", false},
		{"*", "", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*x", "*ax", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"", "", true},
		{"", "a", false},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
