package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// caPEM returns the PEM of the test server's certificate, which is its own
// CA.
func caPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// kubeconfigFor writes a kubeconfig whose single cluster is srv, trusted
// through certificate-authority-data, with the given user entry (YAML
// lines indented under "user:").
func kubeconfigFor(t *testing.T, srv *httptest.Server, user string) string {
	t.Helper()
	return writeFile(t, filepath.Join(t.TempDir(), "config"), fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: test
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: test
  context:
    cluster: test
    user: test
users:
- name: test
  user:
%s
`, srv.URL, b64(caPEM(srv)), user))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeJSON(w, code, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg,
	})
}

func pod(ns, name string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func podList(cont string, pods ...corev1.Pod) corev1.PodList {
	return corev1.PodList{
		TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{Continue: cont},
		Items:    pods,
	}
}

func names(pods []corev1.Pod) string {
	var s []string
	for _, p := range pods {
		s = append(s, p.Namespace+"/"+p.Name)
	}
	return strings.Join(s, ",")
}

// podsServer answers pod lists with one pod and checks the request's
// headers, and the Authorization header against wantAuth.
func podsServer(t *testing.T, wantAuth string) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != wantAuth {
			writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Authorization "+got)
			return
		}
		if r.Header.Get("Accept") != "application/json" || r.Header.Get("User-Agent") != "moat-inventory" {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "headers")
			return
		}
		if r.URL.Path != "/api/v1/pods" || r.URL.Query().Get("limit") != "500" {
			writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, r.URL.String())
			return
		}
		writeJSON(w, http.StatusOK, podList("", pod("default", "web")))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func mustList(t *testing.T, c *Client) []corev1.Pod {
	t.Helper()
	pods, err := c.ListPods(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

func TestKubeconfigToken(t *testing.T) {
	srv := podsServer(t, "Bearer s3cret")
	c, err := FromKubeconfig(kubeconfigFor(t, srv, "    token: s3cret"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server() != srv.URL {
		t.Errorf("Server() = %q, want %q", c.Server(), srv.URL)
	}
	if got := names(mustList(t, c)); got != "default/web" {
		t.Errorf("pods = %q", got)
	}
}

func TestKubeconfigBasicAuth(t *testing.T) {
	srv := podsServer(t, "Basic "+b64([]byte("alice:pw")))
	c, err := FromKubeconfig(kubeconfigFor(t, srv, "    username: alice\n    password: pw"), "")
	if err != nil {
		t.Fatal(err)
	}
	mustList(t, c)
}

// TestKubeconfigContexts checks that current-context is used by default and
// an explicit context overrides it.
func TestKubeconfigContexts(t *testing.T) {
	var gotAuth atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		writeJSON(w, http.StatusOK, podList(""))
	}))
	defer srv.Close()
	path := writeFile(t, filepath.Join(t.TempDir(), "config"), fmt.Sprintf(`current-context: one
clusters:
- name: c
  cluster:
    server: %s/
    certificate-authority-data: %s
contexts:
- name: one
  context: {cluster: c, user: u1}
- name: two
  context: {cluster: c, user: u2}
users:
- name: u1
  user: {token: token-one}
- name: u2
  user: {token: token-two}
`, srv.URL, b64(caPEM(srv))))

	for _, tc := range []struct{ context, want string }{
		{"", "Bearer token-one"},
		{"one", "Bearer token-one"},
		{"two", "Bearer token-two"},
	} {
		c, err := FromKubeconfig(path, tc.context)
		if err != nil {
			t.Fatalf("context %q: %v", tc.context, err)
		}
		if c.Server() != srv.URL {
			t.Errorf("trailing slash kept: %q", c.Server())
		}
		mustList(t, c)
		if got := gotAuth.Load(); got != tc.want {
			t.Errorf("context %q: Authorization %q, want %q", tc.context, got, tc.want)
		}
	}
}

// TestKubeconfigRelativeFiles checks that certificate-authority and
// tokenFile are found relative to the kubeconfig's directory, whatever the
// working directory.
func TestKubeconfigRelativeFiles(t *testing.T) {
	srv := podsServer(t, "Bearer from-file")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "certs", "ca.crt"), string(caPEM(srv)))
	writeFile(t, filepath.Join(dir, "secrets", "token"), "from-file\n")
	path := writeFile(t, filepath.Join(dir, "kube", "config"), fmt.Sprintf(`current-context: test
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: ../certs/ca.crt
contexts:
- name: test
  context: {cluster: test, user: test}
users:
- name: test
  user:
    tokenFile: ../secrets/token
`, srv.URL))
	c, err := FromKubeconfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	mustList(t, c)
}

// TestKubeconfigUntrustedServer checks that the server certificate is
// verified against the configured CA, not accepted blindly.
func TestKubeconfigUntrustedServer(t *testing.T) {
	srv := podsServer(t, "Bearer x")
	// All httptest servers share one certificate, so the wrong CA is made
	// here.
	_, otherCA, _ := newCert(t, "other-ca", true, nil)
	path := writeFile(t, filepath.Join(t.TempDir(), "config"), fmt.Sprintf(`current-context: test
clusters:
- name: test
  cluster: {server: %s, certificate-authority-data: %s}
contexts:
- name: test
  context: {cluster: test, user: test}
users:
- name: test
  user: {token: x}
`, srv.URL, b64(otherCA)))
	c, err := FromKubeconfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListPods(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate verification error", err)
	}
}

// newCert makes a certificate signed by parent (self-signed if nil).
func newCert(t *testing.T, cn string, isCA bool, parent *tls.Certificate) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	signer, signerKey := tmpl, any(key)
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent != nil {
		signer, signerKey = parent.Leaf, parent.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

func TestKubeconfigClientCertData(t *testing.T) {
	ca, caCertPEM, _ := newCert(t, "client-ca", true, nil)
	_, certPEM, keyPEM := newCert(t, "inventory", false, &ca)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caCertPEM)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cn := r.TLS.PeerCertificates[0].Subject.CommonName; cn != "inventory" {
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, "client "+cn)
			return
		}
		if r.Header.Get("Authorization") != "" {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "unexpected Authorization")
			return
		}
		writeJSON(w, http.StatusOK, podList("", pod("kube-system", "dns")))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()

	c, err := FromKubeconfig(kubeconfigFor(t, srv, fmt.Sprintf("    client-certificate-data: %s\n    client-key-data: %s", b64(certPEM), b64(keyPEM))), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(mustList(t, c)); got != "kube-system/dns" {
		t.Errorf("pods = %q", got)
	}
}

func TestKubeconfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cert.pem"), "only the certificate")
	ca := b64([]byte("not a certificate"))
	const users = `users:
- name: tok
  user: {token: t}
- name: exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
- name: provider
  user:
    auth-provider: {name: gcp}
- name: impersonate
  user: {token: t, as: admin}
- name: both
  user: {token: t, username: u, password: p}
- name: certonly
  user: {client-certificate: cert.pem}
- name: missingtoken
  user: {tokenFile: nope}
`
	const contexts = `contexts:
- {name: ok, context: {cluster: ok, user: tok}}
- {name: exec, context: {cluster: ok, user: exec}}
- {name: provider, context: {cluster: ok, user: provider}}
- {name: impersonate, context: {cluster: ok, user: impersonate}}
- {name: both, context: {cluster: ok, user: both}}
- {name: certonly, context: {cluster: ok, user: certonly}}
- {name: missingtoken, context: {cluster: ok, user: missingtoken}}
- {name: nouser, context: {cluster: ok, user: ghost}}
- {name: nocluster, context: {cluster: ghost, user: tok}}
- {name: noserver, context: {cluster: noserver, user: tok}}
- {name: unreadableca, context: {cluster: unreadableca, user: tok}}
- {name: badca, context: {cluster: badca, user: tok}}
- {name: cabase64, context: {cluster: cabase64, user: tok}}
- {name: insecureca, context: {cluster: insecureca, user: tok}}
- {name: ftp, context: {cluster: ftp, user: tok}}
`
	clusters := fmt.Sprintf(`clusters:
- {name: ok, cluster: {server: "https://k8s.example:6443"}}
- {name: noserver, cluster: {certificate-authority-data: %[1]s}}
- {name: unreadableca, cluster: {server: "https://k8s.example", certificate-authority: missing/ca.crt}}
- {name: badca, cluster: {server: "https://k8s.example", certificate-authority-data: %[1]s}}
- {name: cabase64, cluster: {server: "https://k8s.example", certificate-authority-data: "%%%%"}}
- {name: insecureca, cluster: {server: "https://k8s.example", insecure-skip-tls-verify: true, certificate-authority-data: %[1]s}}
- {name: ftp, cluster: {server: "ftp://k8s.example"}}
`, ca)
	withCurrent := writeFile(t, filepath.Join(dir, "config"), "current-context: ok\n"+clusters+contexts+users)
	noCurrent := writeFile(t, filepath.Join(dir, "nocurrent"), clusters+contexts+users)

	if _, err := FromKubeconfig(withCurrent, ""); err != nil {
		t.Fatalf("valid context: %v", err)
	}
	for _, tc := range []struct{ path, context, want string }{
		{noCurrent, "", "no current-context"},
		{withCurrent, "prod", `context "prod" not found`},
		{withCurrent, "exec", "exec credential plugins are not supported"},
		{withCurrent, "provider", "auth-provider plugins are not supported"},
		{withCurrent, "impersonate", "impersonation"},
		{withCurrent, "both", "both a token and username/password"},
		{withCurrent, "certonly", "client-certificate set without client-key"},
		{withCurrent, "missingtoken", "token file"},
		{withCurrent, "nouser", `user "ghost" not found`},
		{withCurrent, "nocluster", `cluster "ghost" not found`},
		{withCurrent, "noserver", `cluster "noserver" has no server`},
		{withCurrent, "unreadableca", "reading certificate-authority"},
		{withCurrent, "badca", "no PEM certificate in certificate-authority-data"},
		{withCurrent, "cabase64", "certificate-authority-data is not valid base64"},
		{withCurrent, "insecureca", "insecure-skip-tls-verify and a certificate authority"},
		{withCurrent, "ftp", "scheme must be https or http"},
		{filepath.Join(dir, "absent"), "", "reading kubeconfig"},
	} {
		_, err := FromKubeconfig(tc.path, tc.context)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("context %q: err = %v, want it to contain %q", tc.context, err, tc.want)
		}
	}
}

func TestListPodsPagination(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Query().Get("limit") != "500" {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "limit")
			return
		}
		switch r.URL.Query().Get("continue") {
		case "":
			writeJSON(w, http.StatusOK, podList("tok+/1=", pod("a", "1"), pod("a", "2")))
		case "tok+/1=": // the token must survive query encoding intact
			writeJSON(w, http.StatusOK, podList("tok2", pod("b", "3")))
		case "tok2":
			writeJSON(w, http.StatusOK, podList("", pod("c", "4")))
		default:
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "bad continue")
		}
	}))
	defer srv.Close()
	c, err := FromKubeconfig(kubeconfigFor(t, srv, "    token: t"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(mustList(t, c)), "a/1,a/2,b/3,c/4"; got != want {
		t.Errorf("pods = %q, want %q", got, want)
	}
	if calls.Load() != 3 {
		t.Errorf("%d requests, want 3", calls.Load())
	}
}

// TestListPodsGone checks that an expired continue token restarts the list
// once, without keeping the pods of the abandoned pass, and that a second
// expiry is an error.
func TestListPodsGone(t *testing.T) {
	var gone atomic.Int32 // how many more 410s to answer
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("continue") {
		case "":
			writeJSON(w, http.StatusOK, podList("next", pod("a", "1")))
		case "next":
			if gone.Add(-1) >= 0 {
				writeStatus(w, http.StatusGone, metav1.StatusReasonExpired, "The provided continue parameter is too old")
				return
			}
			writeJSON(w, http.StatusOK, podList("", pod("b", "2")))
		}
	}))
	defer srv.Close()
	c, err := FromKubeconfig(kubeconfigFor(t, srv, "    token: t"), "")
	if err != nil {
		t.Fatal(err)
	}

	gone.Store(1)
	if got, want := names(mustList(t, c)), "a/1,b/2"; got != want {
		t.Errorf("after one 410: pods = %q, want %q", got, want)
	}

	gone.Store(2)
	_, err = c.ListPods(t.Context())
	if err == nil || !strings.Contains(err.Error(), "410") || !strings.Contains(err.Error(), "too old") {
		t.Errorf("after two 410s: err = %v", err)
	}
}

func TestListPodsForbidden(t *testing.T) {
	const msg = `pods is forbidden: User "system:serviceaccount:moat:inventory" cannot list resource "pods" in API group "" at the cluster scope`
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, msg)
	}))
	defer srv.Close()
	c, err := FromKubeconfig(kubeconfigFor(t, srv, "    token: t"), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListPods(t.Context())
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden") || !strings.Contains(err.Error(), msg) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "limit=") {
		t.Errorf("error carries the query: %v", err)
	}
}

// TestListPodsNotStatus checks errors from something that is not the API
// server (a proxy's HTML page) and a 200 answer that is not JSON.
func TestListPodsNotStatus(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer html" {
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, "<html>login</html>")
			return
		}
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html>\n  <body>upstream\n  unavailable</body></html>")
	}))
	defer srv.Close()
	c, err := FromKubeconfig(kubeconfigFor(t, srv, "    token: t"), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListPods(t.Context())
	if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway: <html> <body>upstream unavailable</body></html>") {
		t.Errorf("err = %v", err)
	}

	c, err = FromKubeconfig(kubeconfigFor(t, srv, "    token: html"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.ListPods(t.Context()); err == nil || !strings.Contains(err.Error(), "decoding") {
		t.Errorf("err = %v", err)
	}
}

func TestListPodsLimits(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("continue") == "loop" || r.Header.Get("Authorization") == "Bearer loop" {
			writeJSON(w, http.StatusOK, podList("loop", pod("a", "1")))
			return
		}
		writeJSON(w, http.StatusOK, podList("", pod("a", strings.Repeat("x", 4096))))
	}))
	defer srv.Close()

	c, err := FromKubeconfig(kubeconfigFor(t, srv, "    token: t"), "")
	if err != nil {
		t.Fatal(err)
	}
	c.maxListBody = 1024
	if _, err := c.ListPods(t.Context()); err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Errorf("oversized page: err = %v", err)
	}

	c, err = FromKubeconfig(kubeconfigFor(t, srv, "    token: loop"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListPods(t.Context()); err == nil || !strings.Contains(err.Error(), "same continue token") {
		t.Errorf("looping continue: err = %v", err)
	}
}

func TestListPodsContextCanceled(t *testing.T) {
	srv := podsServer(t, "Bearer t")
	c, err := FromKubeconfig(kubeconfigFor(t, srv, "    token: t"), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.ListPods(ctx); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("err = %v", err)
	}
}

func TestReplicaSetOwner(t *testing.T) {
	yes := true
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{Kind: "ReplicaSet", APIVersion: "apps/v1"}}
		switch r.URL.Path {
		case "/apis/apps/v1/namespaces/shop/replicasets/web-5d4f8":
			rs.OwnerReferences = []metav1.OwnerReference{
				{APIVersion: "example.com/v1", Kind: "Tracker", Name: "audit"},
				{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Controller: &yes},
			}
		case "/apis/apps/v1/namespaces/shop/replicasets/orphan":
		case "/apis/apps/v1/namespaces/shop/replicasets/secret":
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, "replicasets.apps is forbidden")
			return
		default:
			writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "replicasets.apps not found")
			return
		}
		writeJSON(w, http.StatusOK, rs)
	}))
	defer srv.Close()
	c, err := FromKubeconfig(kubeconfigFor(t, srv, "    token: t"), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	for _, tc := range []struct{ name, kind, owner string }{
		{"web-5d4f8", "Deployment", "web"},
		{"orphan", "", ""},
		{"deleted", "", ""},
	} {
		kind, owner, err := c.ReplicaSetOwner(ctx, "shop", tc.name)
		if err != nil || kind != tc.kind || owner != tc.owner {
			t.Errorf("%s: got (%q, %q, %v), want (%q, %q, nil)", tc.name, kind, owner, err, tc.kind, tc.owner)
		}
	}
	if _, _, err := c.ReplicaSetOwner(ctx, "shop", "secret"); err == nil || !strings.Contains(err.Error(), "403 Forbidden: replicasets.apps is forbidden") {
		t.Errorf("403: err = %v", err)
	}
	for _, name := range []string{"", ".."} {
		if _, _, err := c.ReplicaSetOwner(ctx, "shop", name); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestOwner(t *testing.T) {
	yes, no := true, false
	ref := func(kind, name string, controller *bool) metav1.OwnerReference {
		return metav1.OwnerReference{Kind: kind, Name: name, Controller: controller}
	}
	for _, tc := range []struct {
		refs       []metav1.OwnerReference
		kind, name string
	}{
		{nil, "", ""},
		{[]metav1.OwnerReference{ref("ReplicaSet", "web-5d4f8", &yes)}, "ReplicaSet", "web-5d4f8"},
		{[]metav1.OwnerReference{ref("Node", "n1", &no), ref("DaemonSet", "agent", &yes)}, "DaemonSet", "agent"},
		{[]metav1.OwnerReference{ref("Job", "first", nil), ref("CronJob", "second", &no)}, "Job", "first"},
	} {
		p := pod("ns", "p")
		p.OwnerReferences = tc.refs
		if kind, name := Owner(p); kind != tc.kind || name != tc.name {
			t.Errorf("Owner(%v) = (%q, %q), want (%q, %q)", tc.refs, kind, name, tc.kind, tc.name)
		}
	}
}

// TestInClusterTokenRotation checks the service-account setup and that a
// rotated token is picked up once the cached one is a minute old.
func TestInClusterTokenRotation(t *testing.T) {
	var gotAuth atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		writeJSON(w, http.StatusOK, podList(""))
	}))
	defer srv.Close()

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ca.crt"), string(caPEM(srv)))
	tokenPath := writeFile(t, filepath.Join(dir, "token"), "first\n")
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "https://"), ":")
	env := map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}

	if _, err := inCluster(func(string) string { return "" }, dir); err == nil || !strings.Contains(err.Error(), "KUBERNETES_SERVICE_HOST") {
		t.Errorf("outside a cluster: err = %v", err)
	}
	c, err := inCluster(func(k string) string { return env[k] }, dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server() != srv.URL {
		t.Errorf("Server() = %q, want %q", c.Server(), srv.URL)
	}
	now := time.Now()
	c.creds.tokenFile.now = func() time.Time { return now }

	check := func(want string) {
		t.Helper()
		mustList(t, c)
		if got := gotAuth.Load(); got != "Bearer "+want {
			t.Errorf("Authorization = %q, want Bearer %s", got, want)
		}
	}
	check("first")
	writeFile(t, tokenPath, "second")
	now = now.Add(30 * time.Second)
	check("first") // still cached
	now = now.Add(31 * time.Second)
	check("second")
	// A failed re-read keeps the last good token.
	if err := os.Remove(tokenPath); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	check("second")
}
