package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/tlsconf"
	"github.com/moat-dev/moat/internal/tlsconf/localca"
)

// TestNamedListeners: one server on a plain and a TLS listener; each
// request knows which it came through, HTTPS offers HTTP/2, and plain
// HTTP sent to the TLS port gets a clean refusal.
func TestNamedListeners(t *testing.T) {
	ca, err := localca.Ensure(t.TempDir(), []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tlsconf.Load(tlsconf.Files{CertFile: ca.CertFile, KeyFile: ca.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	v2 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := ListenerName(r.Context())
		if !ok {
			name = "?"
		}
		io.WriteString(w, name+" "+r.Proto)
	})
	s, err := New(WithV2(v2), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := net.Listen("tcp", "127.0.0.1:0")
	secure, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.ServeListeners(ctx, Listener{Name: "private", Listener: plain}, Listener{Name: "public", Listener: secure, TLS: ts.Config()})
	}()

	caPEM, _ := os.ReadFile(ca.CAFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	h2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	get := func(c *http.Client, url string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(http.DefaultClient, "http://"+plain.Addr().String()+"/v2/"); got != "private HTTP/1.1" {
		t.Errorf("plain listener: %q", got)
	}
	if got := get(h2, "https://"+secure.Addr().String()+"/v2/"); got != "public HTTP/2.0" {
		t.Errorf("TLS listener: %q", got)
	}
	// Plain HTTP to the TLS port: a 400 that says why, not a hang.
	conn, err := net.DialTimeout("tcp", secure.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	conn.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "HTTPS") {
		t.Errorf("plain HTTP to TLS port: %d %q", resp.StatusCode, body)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, ln := range []net.Listener{plain, secure} {
		if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after shutdown", ln.Addr())
		}
	}
}

func TestStartListenersRejects(t *testing.T) {
	s, err := New(WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartListeners(); err == nil {
		t.Error("no listeners accepted")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	if err := s.StartListeners(Listener{Name: "a", Listener: ln}, Listener{Name: "a", Listener: ln}); err == nil {
		t.Error("duplicate names accepted")
	}
	if err := s.StartListeners(Listener{Name: "a"}); err == nil {
		t.Error("missing net.Listener accepted")
	}
}
