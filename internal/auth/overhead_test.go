package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/identitytest"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
)

// BenchmarkRequestOverhead measures what access control adds to one
// /v2/ request carrying a bearer token, with 1,000 identity policies
// loaded: identifying the caller (token verification, subject lookup)
// and authorizing the action, through the real middleware. It reports
// the p50 and p99 of the added latency (the same handler without the
// guard is subtracted).
func BenchmarkRequestOverhead(b *testing.B) {
	ctx := context.Background()
	ids, err := identity.NewService(identitytest.NewMemStore(),
		identity.WithArgon2(identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ids.CreateUser(ctx, "alice", "alice-password"); err != nil {
		b.Fatal(err)
	}
	var set policy.Set
	for i := range 1000 {
		g := fmt.Sprintf("team-%03d", i)
		if _, err := ids.CreateGroup(ctx, g); err != nil {
			b.Fatal(err)
		}
		p, err := policy.Parse(policy.Identity, g, fmt.Appendf(nil, `{"Version":"2026-01-01","Statement":[
			{"Effect":"Allow","Action":["registry:Pull","registry:Push"],"Resource":"repository/%s/*"},
			{"Effect":"Deny","Action":"registry:Delete","Resource":"repository/%s/prod"}]}`, g, g))
		if err != nil {
			b.Fatal(err)
		}
		set.Identity = append(set.Identity, policy.Attachment{Policy: p, To: []policy.PrincipalRef{{Type: policy.Group, Name: g}}})
	}
	for _, g := range []string{"team-042", "team-777", "team-999"} {
		if err := ids.AddMember(ctx, g, "alice"); err != nil {
			b.Fatal(err)
		}
	}
	e, err := policy.Compile(set)
	if err != nil {
		b.Fatal(err)
	}
	var holder auth.EngineHolder
	holder.Store(e)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issuer, err := token.NewIssuer(key, "moat")
	if err != nil {
		b.Fatal(err)
	}
	g, err := auth.NewGuard(ids, issuer, &holder, "moat", "http://x/auth/token", auth.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	alice, err := ids.Authenticate(ctx, "alice", "alice-password")
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := issuer.IssueAccess(token.Identity{Subject: alice.Subject(), Credential: alice.Credential, AccountID: alice.AccountID}, "moat", []token.Access{{Type: "repository", Name: "team-042/svc/api", Actions: []string{"pull", "push"}}})
	if err != nil {
		b.Fatal(err)
	}
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	guarded := g.Middleware("default", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.Authorize(r.Context(), policy.ActionPush, "team-042/svc/api"); err != nil {
			b.Fatalf("denied: %v", err)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	run := func(h http.Handler, n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range n {
			r := httptest.NewRequest("POST", "/v2/team-042/svc/api/blobs/uploads/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(w, r)
			out[i] = time.Since(start)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status %d", w.Code)
			}
		}
		slices.Sort(out)
		return out
	}
	run(guarded, 100) // warm the subject cache
	b.ResetTimer()
	with, without := run(guarded, b.N), run(bare, b.N)
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 { return float64(d[int(float64(len(d)-1)*p)].Nanoseconds()) }
	b.ReportMetric(pct(with, 0.50)-pct(without, 0.50), "added-p50-ns")
	b.ReportMetric(pct(with, 0.99)-pct(without, 0.99), "added-p99-ns")
}

// TestVerifiedTokenCache: a token remembered as verified stops working
// when it expires, and a tampered copy of a remembered token is refused.
func TestVerifiedTokenCache(t *testing.T) {
	w := newWorld(t)
	tok, claims, err := w.issuer.IssueAccess(w.identity(t, "alice"), service, []token.Access{{Type: "repository", Name: "team-a/app", Actions: []string{"pull"}}})
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(s string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+s) }
	}
	for range 2 {
		if ctx, rec := w.identify(t, "", "10.0.0.1:1", bearer(tok)); ctx == nil || w.guard.Authorize(ctx, policy.ActionPull, "team-a/app") != nil {
			t.Fatalf("fresh token refused: %d %s", rec.Code, rec.Body)
		}
	}
	tampered := tok[:len(tok)-4] + "AAAA"
	if tampered == tok {
		tampered = tok[:len(tok)-4] + "BBBB"
	}
	if ctx, rec := w.identify(t, "", "10.0.0.1:1", bearer(tampered)); ctx != nil || rec.Code != http.StatusUnauthorized {
		t.Errorf("tampered token: %d", rec.Code)
	}
	w.clock.add(claims.ExpiresAt.Sub(w.clock.now()) + 31*time.Second) // past the issuer's 30s leeway
	if ctx, rec := w.identify(t, "", "10.0.0.1:1", bearer(tok)); ctx != nil || rec.Code != http.StatusUnauthorized {
		t.Errorf("expired token accepted from the cache: %d", rec.Code)
	}
}
