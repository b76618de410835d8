package token

import (
	"errors"
	"reflect"
	"testing"
)

func TestBearerChallenge(t *testing.T) {
	scopes, _ := ParseScopes("repository:team-a/app:pull,push repository:b:pull")
	got := BearerChallenge("https://reg.example.com/auth/token", "reg.example.com", scopes, "")
	want := `Bearer realm="https://reg.example.com/auth/token",service="reg.example.com",scope="repository:team-a/app:pull,push repository:b:pull"`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	cs, err := ParseChallenges(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Scheme != "Bearer" || cs[0].Params["scope"] != "repository:team-a/app:pull,push repository:b:pull" {
		t.Fatalf("parsed %+v", cs)
	}
	if got := BearerChallenge(`a"b\c`, "s", nil, "insufficient_scope"); got != `Bearer realm="a\"b\\c",service="s",error="insufficient_scope"` {
		t.Errorf("escaping: %s", got)
	}
}

func TestParseChallenges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Challenge
	}{
		{`Basic realm="moat"`, []Challenge{{"Basic", map[string]string{"realm": "moat"}}}},
		{`Bearer realm="https://a/t",Service="a" , scope=x, Basic realm=b`, []Challenge{
			{"Bearer", map[string]string{"realm": "https://a/t", "service": "a", "scope": "x"}},
			{"Basic", map[string]string{"realm": "b"}}}},
		{`Bearer realm="q\"uote"`, []Challenge{{"Bearer", map[string]string{"realm": `q"uote`}}}},
		{`Negotiate`, []Challenge{{"Negotiate", map[string]string{}}}},
	} {
		got, err := ParseChallenges(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{``, `  ,`, `Bearer realm="open`, `Bearer realm=`, `Bearer realm="a" service="b"`, `Bearer realm="a",realm="b"`, "Bearer realm=\"a\x01\"", `=x`} {
		if got, err := ParseChallenges(bad); !errors.Is(err, ErrInvalidChallenge) {
			t.Errorf("%q: got %+v, %v", bad, got, err)
		}
	}
}

func FuzzChallenge(f *testing.F) {
	f.Add("https://r/auth", "reg", "repository:a/b:pull,push", "")
	f.Add(`a"\`, "", "", "invalid_token")
	f.Fuzz(func(t *testing.T, realm, service, scope, errCode string) {
		// Parsing arbitrary input never panics.
		_, _ = ParseChallenges(realm + service + scope)
		scopes, err := ParseScopes(scope)
		if err != nil {
			return
		}
		for _, s := range []string{realm, service, errCode} {
			for i := 0; i < len(s); i++ {
				if s[i] < 0x20 || s[i] == 0x7f {
					return // controls are not representable in a header
				}
			}
		}
		h := BearerChallenge(realm, service, scopes, errCode)
		cs, err := ParseChallenges(h)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if len(cs) != 1 || cs[0].Params["realm"] != realm || cs[0].Params["service"] != service {
			t.Fatalf("%s: parsed %+v", h, cs)
		}
		if len(scopes) > 0 && cs[0].Params["scope"] != FormatScopes(scopes) {
			t.Fatalf("%s: scope %q", h, cs[0].Params["scope"])
		}
	})
}
