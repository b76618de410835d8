package auth_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moat-dev/moat/internal/auth"
)

// TestRealmFromRequest: without a configured realm, challenges send the
// client to /auth/token on the scheme and host it used (crane and oras
// refuse a realm on 127.0.0.1 when they were pointed at localhost); a
// configured realm, for the listener or for all, wins; a malformed Host
// is not echoed.
func TestRealmFromRequest(t *testing.T) {
	w := newWorld(t)
	quiet := auth.WithLogger(slog.New(slog.DiscardHandler))
	derived, err := auth.NewGuard(w.ids, w.issuer, w.engine, service, "", quiet, auth.WithListenerRealm("internal", "https://internal.example/auth/token"))
	if err != nil {
		t.Fatal(err)
	}
	configured, err := auth.NewGuard(w.ids, w.issuer, w.engine, service, realm, quiet)
	if err != nil {
		t.Fatal(err)
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	for _, tc := range []struct {
		name     string
		g        *auth.Guard
		listener string
		host     string
		tls      bool
		want     string
	}{
		{"localhost", derived, "", "localhost:5000", false, "http://localhost:5000/auth/token"},
		{"name without port", derived, "", "registry.example", false, "http://registry.example/auth/token"},
		{"IPv6", derived, "", "[::1]:5000", false, "http://[::1]:5000/auth/token"},
		{"TLS", derived, "", "registry.example:8443", true, "https://registry.example:8443/auth/token"},
		{"quote in Host", derived, "", `evil"x`, false, "http://127.0.0.1:5000/auth/token"},
		{"path in Host", derived, "", "evil/x", false, "http://127.0.0.1:5000/auth/token"},
		{"bad port", derived, "", "localhost:99999", false, "http://127.0.0.1:5000/auth/token"},
		{"listener realm", derived, "internal", "localhost:5000", false, "https://internal.example/auth/token"},
		{"configured realm", configured, "", "localhost:5000", false, realm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v2/", nil)
			r.Host = tc.host
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
			rec := httptest.NewRecorder()
			tc.g.Middleware(tc.listener, http.NotFoundHandler()).ServeHTTP(rec, r)
			want := `Bearer realm="` + tc.want + `",service="` + service + `"`
			if got := rec.Header().Get("WWW-Authenticate"); rec.Code != http.StatusUnauthorized || got != want {
				t.Errorf("%d %q, want 401 %q", rec.Code, got, want)
			}
		})
	}
}
