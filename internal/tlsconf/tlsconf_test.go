package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/testpki"
	"github.com/moat-dev/moat/internal/tlsconf"
	"github.com/moat-dev/moat/internal/tlsconf/localca"
)

func write(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pki makes a server certificate (via localca) and a client CA with one
// client certificate.
type pki struct {
	ca           localca.Result
	clientCAFile string
	clientCert   tls.Certificate
	roots        *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	res, err := localca.Ensure(filepath.Join(dir, "server"), []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{ca: res, roots: x509.NewCertPool()}
	p.roots.AppendCertsFromPEM([]byte(read(t, res.CAFile)))
	clients := testpki.NewCA(t, "clients CA")
	p.clientCAFile = write(t, dir, "clients.pem", string(clients.PEM()))
	p.clientCert = clients.Issue(t, pkix.Name{CommonName: "alice"})
	return p
}

func TestLoadRejectsBadFiles(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	other, err := localca.Ensure(filepath.Join(dir, "other"), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	garbage := write(t, dir, "garbage.pem", "not pem at all")
	for _, tc := range []struct {
		name  string
		files tlsconf.Files
		want  string
	}{
		{"no key", tlsconf.Files{CertFile: p.ca.CertFile}, "both needed"},
		{"missing cert", tlsconf.Files{CertFile: filepath.Join(dir, "nope.pem"), KeyFile: p.ca.KeyFile}, "no such file"},
		{"missing key", tlsconf.Files{CertFile: p.ca.CertFile, KeyFile: filepath.Join(dir, "nope.pem")}, "no such file"},
		{"cert not PEM", tlsconf.Files{CertFile: garbage, KeyFile: p.ca.KeyFile}, "no PEM CERTIFICATE"},
		{"key not PEM", tlsconf.Files{CertFile: p.ca.CertFile, KeyFile: garbage}, "no PEM PRIVATE KEY"},
		{"key and cert swapped", tlsconf.Files{CertFile: p.ca.KeyFile, KeyFile: p.ca.CertFile}, "no PEM CERTIFICATE"},
		{"key of another certificate", tlsconf.Files{CertFile: p.ca.CertFile, KeyFile: other.KeyFile}, "does not match"},
		{"client auth without CA", tlsconf.Files{CertFile: p.ca.CertFile, KeyFile: p.ca.KeyFile, ClientAuth: tlsconf.ClientAuthRequire}, "needs a client CA"},
		{"CA with client auth none", tlsconf.Files{CertFile: p.ca.CertFile, KeyFile: p.ca.KeyFile, ClientCAFile: p.clientCAFile, ClientAuth: tlsconf.ClientAuthNone}, "with client authentication none"},
		{"client CA not PEM", tlsconf.Files{CertFile: p.ca.CertFile, KeyFile: p.ca.KeyFile, ClientCAFile: garbage, ClientAuth: tlsconf.ClientAuthOptional}, "no PEM certificates"},
		{"unknown client auth", tlsconf.Files{CertFile: p.ca.CertFile, KeyFile: p.ca.KeyFile, ClientAuth: "sometimes"}, "want none, optional or require"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlsconf.Load(tc.files)
			if !errors.Is(err, tlsconf.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

// serve runs an HTTPS server with s's configuration that answers with
// the protocol and the client certificate's common name.
func serve(t *testing.T, s *tlsconf.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: s.Config(), ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cn := "-"
			if len(r.TLS.VerifiedChains) > 0 {
				cn = r.TLS.VerifiedChains[0][0].Subject.CommonName
			}
			io.WriteString(w, r.Proto+" "+cn)
		})}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func (p *pki) get(t *testing.T, addr string, cert *tls.Certificate, h2 bool) (string, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.roots, ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestHTTP2AndMinVersion(t *testing.T) {
	p := newPKI(t)
	s, err := tlsconf.Load(tlsconf.Files{CertFile: p.ca.CertFile, KeyFile: p.ca.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)
	if got, err := p.get(t, addr, nil, true); err != nil || got != "HTTP/2.0 -" {
		t.Errorf("h2 client: %q %v", got, err)
	}
	if got, err := p.get(t, addr, nil, false); err != nil || got != "HTTP/1.1 -" {
		t.Errorf("http/1.1 client: %q %v", got, err)
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.roots, ServerName: "localhost", MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	if err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake accepted")
	}
}

func TestClientAuth(t *testing.T) {
	p := newPKI(t)
	stranger := testpki.NewCA(t, "clients CA").Issue(t, pkix.Name{CommonName: "mallory"}) // same name, other key
	for _, tc := range []struct {
		mode                  tlsconf.ClientAuth
		none, alice, stranger string // "" means the request fails
	}{
		{tlsconf.ClientAuthOptional, "HTTP/2.0 -", "HTTP/2.0 alice", ""},
		{tlsconf.ClientAuthRequire, "", "HTTP/2.0 alice", ""},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			s, err := tlsconf.Load(tlsconf.Files{CertFile: p.ca.CertFile, KeyFile: p.ca.KeyFile, ClientCAFile: p.clientCAFile, ClientAuth: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			addr := serve(t, s)
			for _, c := range []struct {
				name string
				cert *tls.Certificate
				want string
			}{{"no certificate", nil, tc.none}, {"alice", &p.clientCert, tc.alice}, {"foreign CA", &stranger, tc.stranger}} {
				got, err := p.get(t, addr, c.cert, true)
				if c.want == "" && err == nil {
					t.Errorf("%s: accepted (%q)", c.name, got)
				}
				if c.want != "" && (err != nil || got != c.want) {
					t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
				}
			}
		})
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestReloadOnChange(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	certFile := write(t, dir, "cert.pem", read(t, p.ca.CertFile))
	keyFile := write(t, dir, "key.pem", read(t, p.ca.KeyFile))
	c := &clock{t: time.Now()}
	s, err := tlsconf.Load(tlsconf.Files{CertFile: certFile, KeyFile: keyFile}, tlsconf.WithClock(c.now), tlsconf.WithCheckInterval(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)
	serial := func() *big.Int {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.roots, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	first := serial()

	// A new certificate from the same CA (the renewal an operator does).
	// Remove the old leaf so localca issues a fresh one.
	os.Remove(p.ca.CertFile)
	renewed, err := localca.Ensure(p.ca.Dir, []string{"localhost"})
	if err != nil || !renewed.IssuedLeaf {
		t.Fatalf("renew: %+v %v", renewed, err)
	}
	write(t, dir, "key.pem", read(t, renewed.KeyFile))
	write(t, dir, "cert.pem", read(t, renewed.CertFile))
	later := time.Now().Add(time.Second)
	os.Chtimes(certFile, later, later)
	os.Chtimes(keyFile, later, later)
	if got := serial(); got.Cmp(first) != 0 {
		t.Error("reloaded before the check interval passed")
	}
	c.add(2 * time.Minute)
	second := serial()
	if second.Cmp(first) == 0 {
		t.Fatal("certificate not reloaded after change")
	}
	if s.Leaf().SerialNumber.Cmp(second) != 0 {
		t.Error("Leaf does not report the served certificate")
	}

	// A broken rotation (key of another certificate) keeps the current one.
	write(t, dir, "key.pem", read(t, p.ca.KeyFile)+"\n")
	c.add(2 * time.Minute)
	if got := serial(); got.Cmp(second) != 0 {
		t.Error("broken pair replaced the served certificate")
	}
	// Deleted files, too.
	os.Remove(certFile)
	c.add(2 * time.Minute)
	if got := serial(); got.Cmp(second) != 0 {
		t.Error("deleted files replaced the served certificate")
	}
}
