package token

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Scope
	}{
		{"repository:team-a/app:pull,push", Scope{Type: "repository", Name: "team-a/app", Actions: []string{"pull", "push"}}},
		{"repository:samalba/my-app:pull", Scope{Type: "repository", Name: "samalba/my-app", Actions: []string{"pull"}}},
		{"repository:localhost:5000/team-a/app:pull", Scope{Type: "repository", Name: "localhost:5000/team-a/app", Actions: []string{"pull"}}},
		{"repository:reg.example.com/a/b/c:*", Scope{Type: "repository", Name: "reg.example.com/a/b/c", Actions: []string{"*"}}},
		{"repository(plugin):x/y:pull", Scope{Type: "repository", Class: "plugin", Name: "x/y", Actions: []string{"pull"}}},
		{"registry:catalog:*", Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}},
		{"repository:a:pull,pull,push", Scope{Type: "repository", Name: "a", Actions: []string{"pull", "push"}}},
	} {
		got, err := ParseScope(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v", tc.in, got)
		}
		if again, err := ParseScope(got.String()); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("%s: round trip gives %+v, %v", tc.in, again, err)
		}
	}
	for _, bad := range []string{
		"", "repository", "repository:a", "repository::pull", "repository:a:", "Repository:a:pull",
		"repository:a/B:pull", "repository:a//b:pull", "repository:a:PULL", "repository:a:pull,,push",
		"repository(:a:pull", "repository(X):a:pull", "repository:-a:pull", "repository:a b:pull",
		"repository:" + strings.Repeat("a", 300) + ":pull", "registry:cat\"alog:*",
	} {
		if s, err := ParseScope(bad); err == nil || !errors.Is(err, ErrInvalidScope) {
			t.Errorf("%q parsed as %+v (%v)", bad, s, err)
		}
	}
	scopes, err := ParseScopes("repository:a:pull  registry:catalog:*", "", "repository:b:push")
	if err != nil || len(scopes) != 3 || scopes[2].Name != "b" {
		t.Fatalf("ParseScopes: %+v %v", scopes, err)
	}
	if got := FormatScopes(scopes); got != "repository:a:pull registry:catalog:* repository:b:push" {
		t.Errorf("FormatScopes: %s", got)
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"repository:team-a/app:pull,push", "repository:localhost:5000/x:*", "registry:catalog:*", "repository(plugin):a:pull", "a:b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("error %v not ErrInvalidScope", err)
			}
			return
		}
		again, err := ParseScope(sc.String())
		if err != nil || !reflect.DeepEqual(again, sc) {
			t.Fatalf("%q: round trip %+v -> %+v, %v", s, sc, again, err)
		}
	})
}
