// Package kubeproc runs a real etcd and kube-apiserver for process-level
// tests, such as checking that the apiserver calls moat's admission webhook
// and shows its denial to kubectl.
//
// Only the control plane's API runs: there is no controller-manager,
// scheduler or kubelet, so Deployments never produce Pods, Pods never run,
// and no ServiceAccount is created in a new namespace. The binaries (etcd,
// kube-apiserver, kubectl) are looked up like every client program (see
// moatproc.RequireTool): a missing one skips the test, or fails it under
// CI=true. Everything listens on 127.0.0.1, on free ports; the data lives in
// the test's temporary directory; the processes are killed when the test
// ends, or with the test binary.
package kubeproc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// readyTimeout bounds the apiserver's start; it takes several seconds.
const readyTimeout = 60 * time.Second

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	URL string // https://127.0.0.1:port, the apiserver
	// CAFile verifies the apiserver: the self-signed serving certificate
	// (and its CA) it generated in its --cert-dir, as there is no PKI of
	// our own to maintain.
	CAFile string
	// Token is a bearer token of an admin (group system:masters), from
	// --token-auth-file: simpler than client certificates.
	Token string
	// Kubeconfig is a kubeconfig file naming the server, CAFile and Token
	// in its current context, for kubectl and other clients.
	Kubeconfig string

	dir     string // the test's scratch directory for this cluster
	kubectl string
	apiLog  string
}

// process is a started program whose exit closes exited.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts etcd and kube-apiserver, waits until the apiserver is ready
// and has created the "default" namespace, and stops both when the test
// ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	etcdBin := moatproc.RequireTool(t, "etcd")
	apiserverBin := moatproc.RequireTool(t, "kube-apiserver")
	c := &Cluster{
		dir:     t.TempDir(),
		kubectl: moatproc.RequireTool(t, "kubectl"),
		Token:   "admintoken",
	}
	c.apiLog = filepath.Join(c.dir, "kube-apiserver.log")
	etcdLog := filepath.Join(c.dir, "etcd.log")
	// Registered first, so it runs after the processes are killed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("etcd log (tail):\n%s", moatproc.TailFile(etcdLog, 40))
			t.Logf("kube-apiserver log (tail):\n%s", moatproc.TailFile(c.apiLog, 80))
		}
	})

	clientPort, peerPort, securePort := freePort(t), freePort(t), freePort(t)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd := launch(t, etcdLog, etcdBin,
		"--data-dir", filepath.Join(c.dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL)

	saPub, saKey := writeServiceAccountKey(t, c.dir)
	tokens := filepath.Join(c.dir, "tokens.csv")
	writeFile(t, tokens, c.Token+",admin,admin,system:masters\n")
	certDir := filepath.Join(c.dir, "certs")
	apiserver := launch(t, c.apiLog, apiserverBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(securePort),
		// The apiserver generates a self-signed serving certificate here.
		"--cert-dir="+certDir,
		// Required flags, although no token is ever issued or checked.
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saPub,
		"--service-account-signing-key-file="+saKey,
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/24",
		// Nothing runs behind the kubernetes Service: don't maintain its
		// endpoints.
		"--endpoint-reconciler-type=none",
		// Without a controller-manager no namespace gets its "default"
		// ServiceAccount, which the ServiceAccount plugin requires of
		// every Pod; turning the plugin off lets tests create Pods in
		// any namespace without creating one first.
		"--disable-admission-plugins=ServiceAccount",
	)

	c.URL = "https://127.0.0.1:" + strconv.Itoa(securePort)
	c.CAFile = filepath.Join(certDir, "apiserver.crt")
	start := time.Now()
	if err := c.waitReady(etcd, apiserver); err != nil {
		t.Fatalf("kube-apiserver not ready after %.1fs: %v", time.Since(start).Seconds(), err)
	}
	t.Logf("kube-apiserver ready at %s after %.1fs", c.URL, time.Since(start).Seconds())
	c.Kubeconfig = filepath.Join(c.dir, "kubeconfig")
	writeFile(t, c.Kubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubeproc
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: kubeproc
  context:
    cluster: kubeproc
    user: admin
current-context: kubeproc
`, c.URL, c.CAFile, c.Token))
	return c
}

// launch starts a program with its output in logPath; it is killed when the
// test ends, or when the test binary dies (Pdeathsig).
func launch(t testing.TB, logPath, bin string, args ...string) *process {
	t.Helper()
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// waitReady polls /readyz, then the "default" namespace, which the
// apiserver creates shortly after it reports ready, and which tests may
// expect. It gives up early if a process exits.
func (c *Cluster) waitReady(procs ...*process) error {
	deadline := time.Now().Add(readyTimeout)
	var client *http.Client
	last := errors.New("no answer yet")
	for _, path := range []string{"/readyz", "/api/v1/namespaces/default"} {
		for {
			for _, p := range procs {
				select {
				case <-p.exited:
					return fmt.Errorf("%s exited: %v", filepath.Base(p.cmd.Path), p.cmd.ProcessState)
				default:
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("GET %s: %v", path, last)
			}
			if client == nil {
				// The serving certificate appears once the apiserver
				// has started.
				client, last = c.httpClient()
			}
			if client != nil {
				if last = c.get(client, path); last == nil {
					break
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// httpClient returns a client trusting CAFile, once it exists.
func (c *Cluster) httpClient() (*http.Client, error) {
	b, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no certificate yet", c.CAFile)
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
	}, nil
}

// get returns nil if GET path answers 200.
func (c *Cluster) get(client *http.Client, path string) error {
	req, err := http.NewRequest("GET", c.URL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// Kubectl runs kubectl against the cluster, fails the test if it fails, and
// returns its stdout.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.TryKubectl(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TryKubectl runs kubectl against the cluster and returns its stdout, or an
// error whose text includes kubectl's stderr (a *moatproc.CommandError).
func (c *Cluster) TryKubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	// A private cache directory keeps kubectl's discovery cache out of
	// $HOME.
	r := moatproc.NewRunner(t, "KUBECACHEDIR="+filepath.Join(c.dir, "kubectl-cache"))
	return r.Try(c.kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
}

// Apply runs kubectl apply with the given manifests, fails the test if it
// fails, and returns its stdout.
func (c *Cluster) Apply(t testing.TB, yaml string) string {
	t.Helper()
	out, err := c.TryApply(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TryApply runs kubectl apply with the given manifests and returns its
// stdout, or an error whose text includes kubectl's stderr, where an
// admission webhook's denial appears.
func (c *Cluster) TryApply(t testing.TB, yaml string) (string, error) {
	t.Helper()
	// A file rather than stdin, which moatproc.Runner does not feed.
	f, err := os.CreateTemp(c.dir, "apply-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(yaml)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return c.TryKubectl(t, "apply", "-f", f.Name())
}

// Log returns the kube-apiserver's log so far.
func (c *Cluster) Log() string {
	b, err := os.ReadFile(c.apiLog)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", c.apiLog, err)
	}
	return string(b)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(moatproc.FreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// writeServiceAccountKey writes the key pair the apiserver insists on for
// signing service account tokens, and returns the paths of its public and
// private halves.
func writeServiceAccountKey(t testing.TB, dir string) (pub, priv string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv = filepath.Join(dir, "sa.pub"), filepath.Join(dir, "sa.key")
	writeFile(t, pub, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})))
	writeFile(t, priv, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})))
	return pub, priv
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
