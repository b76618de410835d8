package auth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/token"
)

// TestAuthorizeTokenMint (#10 finding 1), for every kind of credential:
// a password login mints its own user's tokens; a personal access token
// or a client certificate needs identity:ManageTokens (root has it
// through "*") and bounds the new token's expiry by its own; a registry
// bearer token never mints; minting for another user needs
// admin:ManageIdentities; anonymous callers are challenged.
func TestAuthorizeTokenMint(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g, _ := certGuard(t, w)
	pat := func(user string) (func(*http.Request), time.Time) {
		tok, secret, err := w.ids.CreateAccessToken(ctx, user, identity.TokenOptions{TTL: 2 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return func(r *http.Request) { r.SetBasicAuth(user, secret) }, tok.ExpiresAt
	}
	rootPAT, rootPATExpires := pat("root")
	alicePAT, _ := pat("alice")
	rootCert := clientCert(t, "root")
	rootBearer, err := w.tokens.Issue(auth.WithCaller(ctx, &auth.Caller{}), tokenRequest("root", w.secrets["root"]))
	if err != nil {
		t.Fatal(err)
	}
	password := func(user string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, w.secrets[user]) }
	}
	for _, tc := range []struct {
		name, listener, user string
		set                  func(*http.Request)
		notAfter             time.Time
		refusal              string // "" allowed; "challenge"; else a word of the hint
	}{
		{"password, own", "", "alice", password("alice"), time.Time{}, ""},
		{"password, another user", "", "bob", password("alice"), time.Time{}, "denied"},
		{"admin password, another user", "", "alice", password("root"), time.Time{}, ""},
		{"PAT without the grant", "", "alice", alicePAT, time.Time{}, "identity:ManageTokens"},
		{"PAT with the grant", "", "root", rootPAT, rootPATExpires, ""},
		{"certificate with the grant", "mtls", "root", verified(rootCert), rootCert.NotAfter, ""},
		{"certificate without the grant", "mtls", "alice", verified(clientCert(t, "alice")), time.Time{}, "identity:ManageTokens"},
		{"registry bearer token", "", "root", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+rootBearer.Token) }, time.Time{}, "password"},
		{"anonymous", "", "alice", func(*http.Request) {}, time.Time{}, "challenge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := through(g, tc.listener, tc.set)
			if c == nil {
				t.Fatalf("refused at login: %d %s", rec.Code, rec.Body)
			}
			notAfter, err := g.AuthorizeTokenMint(auth.WithCaller(ctx, c), tc.user)
			var de *auth.DeniedError
			switch {
			case tc.refusal == "":
				if err != nil || !notAfter.Equal(tc.notAfter) {
					t.Errorf("allowed? %v, bound %v (want %v)", err, notAfter, tc.notAfter)
				}
			case !errors.As(err, &de):
				t.Errorf("not refused: %v", err)
			case tc.refusal == "challenge":
				if de.Challenge() == "" {
					t.Error("anonymous caller not challenged")
				}
			case de.Challenge() != "" || !strings.Contains(de.Hint()+" denied", tc.refusal):
				t.Errorf("refusal: challenge %q hint %q, want a 403 saying %q", de.Challenge(), de.Hint(), tc.refusal)
			}
			// Listing and revoking follow the same callers, no grant needed
			// for one's own.
			err = g.AuthorizeTokenAccess(auth.WithCaller(ctx, c), tc.user)
			wantAccess := tc.refusal == "" || tc.refusal == "identity:ManageTokens"
			if (err == nil) != wantAccess {
				t.Errorf("token access: %v, want allowed %v", err, wantAccess)
			}
		})
	}
}

// tokenRequest asks for an empty-scope token with a password.
func tokenRequest(user, password string) token.Request {
	return token.Request{Service: service, Username: user, Password: password}
}
