package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newIssuer(t testing.TB, key *ecdsa.PrivateKey, c *clock) *Issuer {
	t.Helper()
	i, err := NewIssuer(key, "moat", WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestIssueVerify(t *testing.T) {
	c := &clock{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	key := newKey(t)
	iss := newIssuer(t, key, c)
	access := []Access{{Type: "repository", Name: "team-a/app", Actions: []string{"pull", "push"}}}
	tok, claims, err := iss.IssueAccess(Identity{Subject: "user:alice", Credential: "password:1:fp", AccountID: 1}, "reg.example.com", access)
	if err != nil {
		t.Fatal(err)
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) != 5*time.Minute {
		t.Errorf("lifetime %v", claims.ExpiresAt.Sub(claims.IssuedAt.Time))
	}
	got, err := iss.VerifyAccess(tok, "reg.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "user:alice" || !got.Allows("repository", "team-a/app", "push") || got.Allows("repository", "team-a/app", "delete") || got.Allows("repository", "team-a/other", "pull") {
		t.Errorf("claims %+v", got)
	}

	forge := func(header, payload string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(header)) + "." + enc([]byte(payload)) + "."
	}
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(payload), "team-a/app", "team-b/app", 1)
	hs256, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("secret"))
	other := newIssuer(t, newKey(t), c)
	otherTok, _, _ := other.IssueAccess(Identity{Subject: "user:alice", Credential: "password:1:fp", AccountID: 1}, "reg.example.com", access)
	// Same key id but a different key: the signature must still fail.
	other.kid = iss.kid
	sameKid, _, _ := other.IssueAccess(Identity{Subject: "user:alice", Credential: "password:1:fp", AccountID: 1}, "reg.example.com", access)
	refresh, _, _ := iss.IssueRefresh(Identity{Subject: "user:alice", Credential: "password:1:fp", AccountID: 1}, "reg.example.com")
	otherIss, _ := NewIssuer(key, "evil", WithClock(c.now))
	wrongIss, _, _ := otherIss.IssueAccess(Identity{Subject: "user:alice", Credential: "password:1:fp", AccountID: 1}, "reg.example.com", access)

	for _, tc := range []struct {
		name, tok, aud string
		want           error
	}{
		{"alg none", forge(`{"alg":"none","typ":"JWT"}`, string(payload)), "reg.example.com", jwt.ErrTokenSignatureInvalid},
		{"alg none kid", forge(`{"alg":"none","kid":"`+iss.kid+`"}`, string(payload)), "reg.example.com", jwt.ErrTokenSignatureInvalid},
		{"hs256", hs256, "reg.example.com", jwt.ErrTokenSignatureInvalid},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2], "reg.example.com", jwt.ErrTokenSignatureInvalid},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), "reg.example.com", jwt.ErrTokenSignatureInvalid},
		{"unknown key", otherTok, "reg.example.com", jwt.ErrTokenUnverifiable},
		{"other key same kid", sameKid, "reg.example.com", jwt.ErrTokenSignatureInvalid},
		{"other service", tok, "other.example.com", jwt.ErrTokenInvalidAudience},
		{"wrong issuer", wrongIss, "reg.example.com", jwt.ErrTokenInvalidIssuer},
		{"refresh as access", refresh, "reg.example.com", nil},
		{"garbage", "a.b.c", "reg.example.com", jwt.ErrTokenMalformed},
		{"huge", strings.Repeat("a", maxTokenLen+1), "reg.example.com", nil},
	} {
		_, err := iss.VerifyAccess(tc.tok, tc.aud)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: accepted (%v)", tc.name, err)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}

	c.t = c.t.Add(5*time.Minute + 31*time.Second)
	if _, err := iss.VerifyAccess(tok, "reg.example.com"); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
	c.t = c.t.Add(-5*time.Minute - 31*time.Second - time.Minute)
	if _, err := iss.VerifyAccess(tok, "reg.example.com"); !errors.Is(err, jwt.ErrTokenNotValidYet) && !errors.Is(err, jwt.ErrTokenUsedBeforeIssued) {
		t.Errorf("token from the future: %v", err)
	}
	c.t = c.t.Add(time.Minute)
	if _, err := iss.VerifyRefresh(tok, "reg.example.com"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("access token accepted as refresh token")
	}
	rc, err := iss.VerifyRefresh(refresh, "reg.example.com")
	if err != nil || rc.Credential != "password:1:fp" || rc.AccountID != 1 {
		t.Errorf("refresh: %+v %v", rc, err)
	}
}

// TestTokensCarryCredential (#10 finding 2): access tokens, not only
// refresh tokens, name the credential and account they were issued for,
// so the registry can refuse them once either is gone; a token for a
// subject without them (as earlier versions issued) is refused.
func TestTokensCarryCredential(t *testing.T) {
	c := &clock{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	key := newKey(t)
	iss := newIssuer(t, key, c)
	alice := Identity{Subject: "user:alice", Credential: "pat:7:12:ab", AccountID: 7}
	tok, _, err := iss.IssueAccess(alice, "svc", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.VerifyAccess(tok, "svc")
	if err != nil || got.Identity() != alice {
		t.Fatalf("access token identity %+v %v", got, err)
	}
	anon, _, err := iss.IssueAccess(Identity{}, "svc", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := iss.VerifyAccess(anon, "svc"); err != nil || got.Identity() != (Identity{}) {
		t.Errorf("anonymous token %+v %v", got, err)
	}
	for _, id := range []Identity{
		{Subject: "user:alice"},
		{Subject: "user:alice", Credential: "pat:7:12:ab"},
		{Subject: "user:alice", AccountID: 7},
		{Credential: "pat:7:12:ab", AccountID: 7},
	} {
		if _, _, err := iss.IssueAccess(id, "svc", nil); err == nil {
			t.Errorf("issued an access token for %+v", id)
		}
		if _, _, err := iss.IssueRefresh(id, "svc"); err == nil {
			t.Errorf("issued a refresh token for %+v", id)
		}
	}
	// Signed with the registry's key, as an earlier version did: valid
	// signature, but no credential or account to check.
	for _, use := range []string{useAccess, useRefresh} {
		old := &Claims{Use: use}
		if use == useRefresh {
			old.Credential = "password:alice:ab" // refresh tokens had a credential, without the account
		}
		now := c.now()
		old.RegisteredClaims = jwt.RegisteredClaims{Issuer: "moat", Subject: "user:alice", Audience: jwt.ClaimStrings{"svc"},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)}
		jt := jwt.NewWithClaims(jwt.SigningMethodES256, old)
		jt.Header["kid"] = iss.kid
		signed, err := jt.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		verify := iss.VerifyAccess
		if use == useRefresh {
			verify = iss.VerifyRefresh
		}
		if _, err := verify(signed, "svc"); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s token without credential and account accepted: %v", use, err)
		}
	}
}

func flip(sig string) string {
	b, _ := base64.RawURLEncoding.DecodeString(sig)
	b[len(b)/2] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestIssuerOptions(t *testing.T) {
	k := newKey(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, fn := range map[string]func() error{
		"nil key":     func() error { _, err := NewIssuer(nil, "x"); return err },
		"p384":        func() error { _, err := NewIssuer(p384, "x"); return err },
		"no issuer":   func() error { _, err := NewIssuer(k, ""); return err },
		"short ttl":   func() error { _, err := NewIssuer(k, "x", WithAccessTTL(time.Second)); return err },
		"bad refresh": func() error { _, err := NewIssuer(k, "x", WithRefreshTTL(0)); return err },
		"bad leeway":  func() error { _, err := NewIssuer(k, "x", WithLeeway(time.Hour)); return err },
		"nil clock":   func() error { _, err := NewIssuer(k, "x", WithClock(nil)); return err },
	} {
		if fn() == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func FuzzVerify(f *testing.F) {
	c := &clock{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	iss := newIssuer(f, newKey(f), c)
	tok, _, _ := iss.IssueAccess(Identity{Subject: "user:a", Credential: "password:1:fp", AccountID: 1}, "svc", []Access{{Type: "repository", Name: "a", Actions: []string{"pull"}}})
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := iss.VerifyAccess(s, "svc")
		if err == nil && s != tok {
			t.Fatalf("accepted a token not issued here: %q (%+v)", s, c)
		}
	})
}
