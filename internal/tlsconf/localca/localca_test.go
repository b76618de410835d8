package localca_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/tlsconf/localca"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func verify(t *testing.T, res localca.Result, host string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(res.CertFile, res.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(res.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, CurrentTime: leaf.NotBefore.Add(2 * time.Hour)}); err != nil {
		t.Errorf("verify for %s: %v", host, err)
	}
	return leaf
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestEnsureCreatesAndReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	c := &clock{time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)}
	hosts := []string{"localhost", "127.0.0.1", "::1", "reg.example"}
	res, err := localca.Ensure(dir, hosts, localca.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	if !res.CreatedCA || !res.IssuedLeaf {
		t.Fatalf("first call: %+v", res)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "reg.example"} {
		verify(t, res, h)
	}
	leaf := verify(t, res, "localhost")
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("ext key usage %v", leaf.ExtKeyUsage)
	}
	for _, f := range []string{localca.CAKeyFile, localca.ServerKeyFile} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode %o, want 600", f, m)
		}
	}
	caBefore, _ := os.ReadFile(res.CAFile)
	leafBefore, _ := os.ReadFile(res.CertFile)

	// Later start: nothing changes.
	c.t = c.t.Add(100 * 24 * time.Hour)
	again, err := localca.Ensure(dir, []string{"localhost", "127.0.0.1"}, localca.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	if again.CreatedCA || again.IssuedLeaf {
		t.Errorf("second call changed files: %+v", again)
	}
	if b, _ := os.ReadFile(res.CertFile); string(b) != string(leafBefore) {
		t.Error("server certificate rewritten")
	}

	// A new host name gets a new leaf from the same CA.
	grown, err := localca.Ensure(dir, []string{"localhost", "other.example"}, localca.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	if grown.CreatedCA || !grown.IssuedLeaf {
		t.Errorf("new host: %+v", grown)
	}
	verify(t, grown, "other.example")

	// Close to expiry: renewed, CA kept.
	c.t = grown.NotAfter.Add(-10 * 24 * time.Hour)
	renewed, err := localca.Ensure(dir, []string{"localhost"}, localca.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	if renewed.CreatedCA || !renewed.IssuedLeaf || !renewed.NotAfter.After(grown.NotAfter) {
		t.Errorf("renewal: %+v (old expiry %s)", renewed, grown.NotAfter)
	}
	if b, _ := os.ReadFile(res.CAFile); string(b) != string(caBefore) {
		t.Error("CA rewritten on renewal")
	}
}

func TestEnsureReissuesForeignOrBrokenLeaf(t *testing.T) {
	dir := t.TempDir()
	if _, err := localca.Ensure(dir, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	// A leaf made by another CA (an operator copied files around).
	other := t.TempDir()
	if _, err := localca.Ensure(other, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(other, localca.ServerFile))
	k, _ := os.ReadFile(filepath.Join(other, localca.ServerKeyFile))
	os.WriteFile(filepath.Join(dir, localca.ServerFile), b, 0o644)
	os.WriteFile(filepath.Join(dir, localca.ServerKeyFile), k, 0o600)
	res, err := localca.Ensure(dir, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IssuedLeaf {
		t.Error("leaf of another CA kept")
	}
	verify(t, res, "localhost")

	// Truncated key.
	os.WriteFile(filepath.Join(dir, localca.ServerKeyFile), []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600)
	if res, err = localca.Ensure(dir, []string{"localhost"}); err != nil || !res.IssuedLeaf {
		t.Fatalf("broken key: %+v %v", res, err)
	}
	verify(t, res, "localhost")
}

func TestEnsureRefusesToReplaceABrokenCA(t *testing.T) {
	for name, breakIt := range map[string]func(dir string){
		"garbage certificate": func(dir string) { os.WriteFile(filepath.Join(dir, localca.CAFile), []byte("nope"), 0o644) },
		"key missing":         func(dir string) { os.Remove(filepath.Join(dir, localca.CAKeyFile)) },
		"certificate missing": func(dir string) { os.Remove(filepath.Join(dir, localca.CAFile)) },
		"key of another CA": func(dir string) {
			other := filepath.Join(dir, "other")
			if _, err := localca.Ensure(other, []string{"localhost"}); err != nil {
				panic(err)
			}
			b, _ := os.ReadFile(filepath.Join(other, localca.CAKeyFile))
			os.WriteFile(filepath.Join(dir, localca.CAKeyFile), b, 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := localca.Ensure(dir, []string{"localhost"}); err != nil {
				t.Fatal(err)
			}
			breakIt(dir)
			before, _ := os.ReadFile(filepath.Join(dir, localca.CAFile))
			_, err := localca.Ensure(dir, []string{"localhost"})
			if !errors.Is(err, localca.ErrCorrupt) {
				t.Fatalf("err %v, want ErrCorrupt", err)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, localca.CAFile)); string(after) != string(before) {
				t.Error("broken CA was overwritten")
			}
		})
	}
}

func TestEnsureBadInput(t *testing.T) {
	for _, hosts := range [][]string{nil, {""}, {"a b"}, {"http://x"}} {
		if _, err := localca.Ensure(t.TempDir(), hosts); err == nil {
			t.Errorf("hosts %q accepted", hosts)
		}
	}
	if _, err := localca.Ensure(t.TempDir(), []string{"x"}, localca.WithLeafValidity(time.Minute)); err == nil {
		t.Error("1m validity accepted")
	}
	if _, err := localca.Ensure(t.TempDir(), []string{"x"}, localca.WithLeafValidity(24*time.Hour), localca.WithRenewBefore(48*time.Hour)); err == nil {
		t.Error("renewal window longer than validity accepted")
	}
}

// TestServesTLS: a TLS client trusting only ca.pem connects.
func TestServesTLS(t *testing.T) {
	res, err := localca.Ensure(t.TempDir(), []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(res.CertFile, res.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	caPEM, _ := os.ReadFile(res.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	text := localca.TrustInstructions(res.CAFile, "localhost:"+port)
	for _, want := range []string{res.CAFile, "update-ca-certificates", "/etc/containers/certs.d/localhost:" + port + "/ca.crt", "/etc/docker/certs.d/localhost:" + port, "--cert-dir"} {
		if !strings.Contains(text, want) {
			t.Errorf("trust instructions lack %q:\n%s", want, text)
		}
	}
}
