package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	installHint   = "install it with scripts/install-deps.sh"
	adminPassword = "admin-e2e-password-1"
)

var moatBinary string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if bin := os.Getenv("MOAT_E2E_BINARY"); bin != "" {
		moatBinary = bin
		return m.Run()
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "auth:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "moat-auth-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "auth:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	moatBinary = filepath.Join(dir, "moat")
	cmd := exec.Command("go", "build", "-o", moatBinary, "./cmd/moat")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "auth: building moat: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(data, []byte("module github.com/moat-dev/moat\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root of github.com/moat-dev/moat not found")
		}
		dir = parent
	}
}

// requireTool finds a client in the repository's .tools/bin or on PATH;
// missing, it skips the test, or fails it under CI=true.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if root, err := repoRoot(); err == nil {
		p := filepath.Join(root, ".tools", "bin", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (CI=true makes this a failure): %s", name, installHint)
	}
	t.Skipf("%s not found: %s", name, installHint)
	return ""
}

// server is one `moat serve --auth`.
type server struct {
	Addr, URL, DataDir, LogPath string
	cmd                         *exec.Cmd
	done                        chan error
}

func startServer(t *testing.T, dataDir string, extraArgs ...string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(t.TempDir(), "moat.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(moatBinary, append([]string{"serve", "--auth", "--addr", addr, "--data-dir", dataDir}, extraArgs...)...)
	cmd.Env = append(os.Environ(), "MOAT_ADMIN_PASSWORD="+adminPassword, "MOAT_LOG_LEVEL=debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{Addr: addr, URL: "http://" + addr, DataDir: dataDir, LogPath: logPath, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("moat exited: %v\n%s", err, s.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("moat not ready: %v\n%s", err, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) log() string {
	b, _ := os.ReadFile(s.LogPath)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// stop sends SIGTERM and waits; a second call is a no-op.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Errorf("moat exit: %v\n%s", err, s.log())
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Errorf("moat did not stop on SIGTERM")
	}
	if log := s.log(); strings.Contains(log, "panic:") || strings.Contains(log, "DATA RACE") {
		t.Errorf("server log shows trouble:\n%s", log)
	}
}

// api calls the management API as admin and decodes the JSON answer.
func (s *server) api(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

// runner runs client commands with a private environment.
type runner struct {
	t   *testing.T
	env []string
}

func newRunner(t *testing.T, env ...string) *runner {
	return &runner{t: t, env: append(os.Environ(), env...)}
}

// try runs a command and returns its combined output.
func (r *runner) try(name string, args ...string) (string, error) {
	r.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run runs a command that must succeed.
func (r *runner) run(name string, args ...string) string {
	r.t.Helper()
	out, err := r.try(name, args...)
	if err != nil {
		r.t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// refused runs a command that must fail with one of the spec's refusal
// codes in its output (clients print them in various spellings).
func (r *runner) refused(name string, args ...string) {
	r.t.Helper()
	out, err := r.try(name, args...)
	if err == nil {
		r.t.Fatalf("%s %s succeeded; want it refused\n%s", filepath.Base(name), strings.Join(args, " "), out)
	}
	if !isRefusal(out) {
		r.t.Errorf("%s %s: failed without a refusal in its output:\n%s", filepath.Base(name), strings.Join(args, " "), out)
	}
}

// isRefusal reports whether client output shows the registry's DENIED
// (403) or UNAUTHORIZED (401, also a token lacking the scope asked for)
// answer, in the spellings the clients use.
func isRefusal(out string) bool {
	lower := strings.ToLower(out)
	for _, s := range []string{"denied", "unauthorized", "authentication required", "insufficient_scope"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

func runIn(env []string, dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir = env, dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// decodeSegment decodes a JWT segment.
func decodeSegment(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}
