package auth

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/moat-dev/moat/internal/testutil/testpki"
	"github.com/moat-dev/moat/internal/tlsconf/localca"
)

// caPool reads the server's local CA, made by --tls-self-signed, and
// checks its key is private.
func caPool(t *testing.T, s *moatproc.Server) (string, *x509.CertPool) {
	t.Helper()
	caFile := filepath.Join(s.DataDir, "tls", "ca.pem")
	data, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	for _, key := range []string{"ca-key.pem", "server-key.pem"} {
		fi, err := os.Stat(filepath.Join(s.DataDir, "tls", key))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", key, fi.Mode(), err)
		}
	}
	return caFile, pool
}

// certDir makes a containers/image certificate directory: ca.crt, and
// client.cert/client.key when a client certificate is given.
func certDir(t *testing.T, caFile string, client *tls.Certificate) string {
	t.Helper()
	dir := t.TempDir()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"ca.crt": ca}
	if client != nil {
		files["client.cert"] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: client.Certificate[0]})
		der, err := x509.MarshalPKCS8PrivateKey(client.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		files["client.key"] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tlsGet sends GET url over HTTP/2 with TLS trusting roots, presenting
// client when given, with Basic credentials when creds is not empty.
func tlsGet(t *testing.T, roots *x509.CertPool, client *tls.Certificate, creds moatproc.Credentials, url string) (*http.Response, string, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Username != "" {
		req.SetBasicAuth(creds.Username, creds.Password)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// forbidden runs a command that must fail with a refusal; a caller known
// by its certificate is refused with 403, which skopeo prints as
// "Forbidden".
func forbidden(t *testing.T, r *moatproc.Runner, name string, args ...string) {
	t.Helper()
	_, err := r.Try(name, args...)
	if err == nil {
		t.Fatalf("%s %s succeeded; want it refused", filepath.Base(name), strings.Join(args, " "))
	}
	if msg := err.Error(); !isRefusal(msg) && !strings.Contains(msg, "403 (Forbidden)") {
		t.Errorf("failed without a refusal: %v", err)
	}
}

// TestTLSSelfSigned: with --tls-self-signed, clients that trust only the
// printed CA log in and push and pull over HTTPS (HTTP/2 where the client
// speaks it); plain HTTP to the port is refused cleanly.
func TestTLSSelfSigned(t *testing.T) {
	s := startServer(t, moatproc.WithArgs("--tls-self-signed"), moatproc.WithTLS(nil))
	caFile, roots := caPool(t, s)
	log := s.Log()
	for _, want := range []string{caFile, "update-ca-certificates", "/etc/containers/certs.d/" + s.Addr + "/ca.crt", "/etc/docker/certs.d/" + s.Addr, "--cert-dir"} {
		if !strings.Contains(log, want) {
			t.Errorf("start-up output lacks %q", want)
		}
	}

	// A Go client trusting only ca.pem: HTTP/2, and the challenge sends
	// it to the HTTPS token endpoint.
	resp, _, err := tlsGet(t, roots, nil, moatproc.Credentials{}, s.URL+"/v2/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("negotiated %s, want HTTP/2", resp.Proto)
	}
	wantChallenge := fmt.Sprintf(`Bearer realm="https://%s/auth/token",service="moat"`, s.Addr)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != wantChallenge {
		t.Errorf("GET /v2/: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), wantChallenge)
	}

	// Plain HTTP to the TLS port: a 400 saying so, not a hang or garbage.
	plain, err := http.Get("http://" + s.Addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(plain.Body)
	plain.Body.Close()
	if plain.StatusCode != 400 || !strings.Contains(string(body), "HTTPS") {
		t.Errorf("plain HTTP to the TLS port: %d %q", plain.StatusCode, body)
	}

	rb := teamARobot(t, s)
	layout := t.TempDir()
	imgDigest := writeLayout(t, layout, "v1")

	t.Run("skopeo", func(t *testing.T) {
		skopeo := moatproc.RequireTool(t, "skopeo")
		r := moatproc.NewRunner(t, "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"))
		certs := certDir(t, caFile, nil)
		ref := "docker://" + s.Addr + "/team-a/tls-skopeo:v1"
		r.Run(skopeo, "login", "--cert-dir", certs, "-u", rb.Username, "-p", rb.Secret, s.Addr)
		r.Run(skopeo, "copy", "--preserve-digests", "--dest-cert-dir", certs, "oci:"+layout+":v1", ref)
		out := t.TempDir()
		r.Run(skopeo, "copy", "--src-cert-dir", certs, ref, "oci:"+out+":v1")
		if got := strings.TrimSpace(r.Run(skopeo, "inspect", "--format", "{{.Digest}}", "--cert-dir", certs, ref)); got != imgDigest.String() {
			t.Errorf("digest %s, want %s", got, imgDigest)
		}
		// Without the CA the certificate is not trusted: TLS is real.
		if out, err := r.Try(skopeo, "inspect", "--cert-dir", t.TempDir(), ref); err == nil || !strings.Contains(out+err.Error(), "certificate") {
			t.Errorf("skopeo without the CA: %v %s", err, out)
		}
	})

	t.Run("crane", func(t *testing.T) {
		crane := moatproc.RequireTool(t, "crane")
		r := moatproc.NewRunner(t, "DOCKER_CONFIG="+t.TempDir(), "SSL_CERT_FILE="+caFile)
		r.Run(crane, "auth", "login", s.Addr, "-u", rb.Username, "-p", rb.Secret)
		r.Run(crane, "push", layout, s.Addr+"/team-a/tls-crane:v1")
		if got := strings.TrimSpace(r.Run(crane, "digest", s.Addr+"/team-a/tls-crane:v1")); got != imgDigest.String() {
			t.Errorf("crane digest %s, want %s", got, imgDigest)
		}
		refused(t, r, crane, "push", layout, s.Addr+"/team-b/tls-crane:v1")
	})

	t.Run("oras", func(t *testing.T) {
		oras := moatproc.RequireTool(t, "oras")
		work := t.TempDir()
		cfg := filepath.Join(work, "config.json")
		r := moatproc.NewRunner(t, "HOME="+work)
		r.Dir = work
		r.Run(oras, "login", "--ca-file", caFile, "--registry-config", cfg, "-u", rb.Username, "-p", rb.Secret, s.Addr)
		if err := os.WriteFile(filepath.Join(work, "sbom.json"), []byte(`{"bomFormat":"CycloneDX"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		ref := s.Addr + "/team-a/tls-oras:v1"
		r.Run(oras, "push", "--ca-file", caFile, "--registry-config", cfg, "--artifact-type", "application/vnd.example.sbom", ref, "sbom.json:application/json")
		dst := t.TempDir()
		r.Run(oras, "pull", "--ca-file", caFile, "--registry-config", cfg, "-o", dst, ref)
		if b, err := os.ReadFile(filepath.Join(dst, "sbom.json")); err != nil || string(b) != `{"bomFormat":"CycloneDX"}` {
			t.Errorf("pulled %q %v", b, err)
		}
	})

	// A restart reuses the CA, so clients keep trusting the registry.
	before, _ := os.ReadFile(caFile)
	stop(t, s)
	s.Restart(t)
	if after, _ := os.ReadFile(caFile); string(after) != string(before) {
		t.Error("restart replaced the local CA")
	}
	if resp, _, err := tlsGet(t, roots, nil, s.Admin, s.URL+"/v2/"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after restart: %v %v", resp, err)
	}
}

// TestTLSClientCertificatesAndListeners: one process serves a public
// HTTPS listener where client certificates may log in, and a private
// plain-HTTP listener with a listener policy of its own.
func TestTLSClientCertificatesAndListeners(t *testing.T) {
	ca := testpki.NewCA(t, "test clients CA")
	privateAddr := moatproc.FreeAddr(t)
	conf := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `version: 1
tls:
  selfSigned: true
  clientCAFile: %s
  clientAuth: optional
  clientCertIdentity: true
auth:
  listener: public
listeners:
  - name: private
    addr: %s
`, ca.WriteFile(t), privateAddr), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, moatproc.WithArgs("--config", conf), moatproc.WithTLS(nil))
	caFile, roots := caPool(t, s)
	rb := teamARobot(t, s)
	// The private listener allows everything but pushes.
	doc := json.RawMessage(`{"Version":"2026-01-01","Statement":[
		{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
		{"Sid":"NoPush","Effect":"Deny","Action":"registry:Push","Resource":"*"}]}`)
	s.API(t, "PUT", "/api/v1/policies/private-endpoint", map[string]any{"kind": "listener", "document": doc}, nil)
	s.API(t, "PUT", "/api/v1/policies/private-endpoint/attachments/listener/private", nil, nil)

	robotCert := ca.Issue(t, pkix.Name{CommonName: rb.Username})
	layout := t.TempDir()
	imgDigest := writeLayout(t, layout, "v1")
	skopeo := moatproc.RequireTool(t, "skopeo")
	r := moatproc.NewRunner(t, "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"))

	t.Run("skopeo logs in with a client certificate", func(t *testing.T) {
		certs := certDir(t, caFile, &robotCert)
		ref := "docker://" + s.Addr + "/team-a/mtls:v1"
		r.Run(skopeo, "copy", "--preserve-digests", "--dest-no-creds", "--dest-cert-dir", certs, "oci:"+layout+":v1", ref)
		if got := strings.TrimSpace(r.Run(skopeo, "inspect", "--no-creds", "--format", "{{.Digest}}", "--cert-dir", certs, ref)); got != imgDigest.String() {
			t.Errorf("digest %s, want %s", got, imgDigest)
		}
		// The certificate's robot gets its own policy, no more.
		forbidden(t, r, skopeo, "copy", "--dest-no-creds", "--dest-cert-dir", certs, "oci:"+layout+":v1", "docker://"+s.Addr+"/team-b/mtls:v1")
		// Without the certificate the same command is anonymous.
		refused(t, r, skopeo, "inspect", "--no-creds", "--cert-dir", certDir(t, caFile, nil), ref)
	})

	t.Run("Go client", func(t *testing.T) {
		resp, _, err := tlsGet(t, roots, &robotCert, moatproc.Credentials{}, s.URL+"/v2/")
		if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("GET /v2/ with the robot's certificate: %v %v", resp, err)
		}
		resp, body, err := tlsGet(t, roots, &robotCert, moatproc.Credentials{}, s.URL+"/v2/team-a/mtls/tags/list")
		if err != nil || resp.StatusCode != 200 || !strings.Contains(body, `"tags":["v1"]`) {
			t.Errorf("tags with the robot's certificate: %v %s %v", resp, body, err)
		}
		// A certificate naming no account is refused, not anonymous.
		nobody := ca.Issue(t, pkix.Name{CommonName: "nobody"})
		resp, _, err = tlsGet(t, roots, &nobody, moatproc.Credentials{}, s.URL+"/v2/team-a/mtls/tags/list")
		if err != nil || resp.StatusCode != 401 {
			t.Errorf("unknown certificate: %v %v", resp, err)
		}
		// Passwords still work on a connection with a certificate, and win.
		resp, body, err = tlsGet(t, roots, &robotCert, s.Admin, s.URL+"/v2/_catalog")
		if err != nil || resp.StatusCode != 200 || !strings.Contains(body, "team-a/mtls") {
			t.Errorf("admin password with the robot's certificate: %v %s %v", resp, body, err)
		}
		// A certificate from a CA the listener does not trust ends the
		// handshake.
		stranger := testpki.NewCA(t, "test clients CA").Issue(t, pkix.Name{CommonName: rb.Username})
		if _, _, err := tlsGet(t, roots, &stranger, moatproc.Credentials{}, s.URL+"/v2/"); err == nil {
			t.Error("certificate of an unknown CA accepted")
		}
	})

	t.Run("private listener", func(t *testing.T) {
		// Its challenge names its own token endpoint.
		resp, err := http.Get("http://" + privateAddr + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := fmt.Sprintf(`Bearer realm="http://%s/auth/token",service="moat"`, privateAddr)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
			t.Errorf("private GET /v2/: %d %q, want %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
		}
		creds := rb.Username + ":" + rb.Secret
		ref := "docker://" + privateAddr + "/team-a/mtls:v1"
		if got := strings.TrimSpace(r.Run(skopeo, "inspect", "--format", "{{.Digest}}", "--creds", creds, "--tls-verify=false", ref)); got != imgDigest.String() {
			t.Errorf("pull through the private listener: %s", got)
		}
		// The same robot may push on the public listener, not here.
		refused(t, r, skopeo, "copy", "--dest-creds", creds, "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+privateAddr+"/team-a/private-push:v1")
		r.Run(skopeo, "copy", "--dest-creds", creds, "--dest-cert-dir", certDir(t, caFile, nil), "oci:"+layout+":v1", "docker://"+s.Addr+"/team-a/public-push:v1")
	})

	t.Run("audit", func(t *testing.T) {
		type record struct {
			Actor, Action, Result string
			SourceIP              string `json:"source_ip"`
			Details               map[string]any
		}
		var got struct{ Records []record }
		s.API(t, "GET", "/api/v1/audit?action=auth:ClientCertificateLogin&limit=100", nil, &got)
		var ok, failed bool
		for _, rec := range got.Records {
			switch {
			case rec.Actor == "robot:ci-a" && rec.Result == "success" && rec.Details["listener"] == "public" && rec.SourceIP == "127.0.0.1":
				ok = true
			case rec.Actor == "cert:nobody" && rec.Result == "failure":
				failed = true
			}
		}
		if !ok || !failed {
			t.Errorf("certificate logins audited: %+v", got.Records)
		}
	})

	// The server's TLS handshake errors land in its log, named by listener.
	sc := bufio.NewScanner(strings.NewReader(s.Log()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "TLS handshake error") && !strings.Contains(sc.Text(), "listener=public") {
			t.Errorf("handshake error without its listener: %s", sc.Text())
		}
	}
}

// TestTLSBadFiles: a start with TLS files that cannot work stops at once
// with an error naming the setting and the file.
func TestTLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Two real pairs, to hand moat a key of the wrong certificate.
	var pairs []string
	for _, name := range []string{"a", "b"} {
		res, err := localca.Ensure(filepath.Join(dir, name), []string{"localhost"})
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, res.Dir)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", garbage}, `tls.certFile "` + garbage + `" is set without keyFile`},
		{"self-signed and files", []string{"--tls-self-signed", "--tls-cert", garbage, "--tls-key", garbage}, "tls.selfSigned excludes certFile"},
		{"missing file", []string{"--tls-cert", filepath.Join(dir, "nope.pem"), "--tls-key", garbage}, "tls (listener default)"},
		{"not PEM", []string{"--tls-cert", garbage, "--tls-key", filepath.Join(pairs[0], "server-key.pem")}, "no PEM CERTIFICATE block"},
		{"key of another certificate", []string{"--tls-cert", filepath.Join(pairs[0], "server.pem"), "--tls-key", filepath.Join(pairs[1], "server-key.pem")}, "private key does not match public key"},
		{"client auth without CA", []string{"--tls-self-signed", "--tls-client-auth", "require"}, "tls.clientAuth require needs clientCAFile"},
		{"client CA not PEM", []string{"--tls-self-signed", "--tls-client-ca", garbage}, "client CA " + garbage + ": no PEM certificates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := moatproc.NewRunner(t)
			args := append([]string{"serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--addr", "127.0.0.1:0"}, tc.args...)
			_, err := r.Try(moatproc.Binary(t), args...)
			if err == nil {
				t.Fatal("moat serve started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not say %q:\n%v", tc.want, err)
			}
		})
	}
}
