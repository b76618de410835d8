package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const installHint = "install it with scripts/install-deps.sh"

// moatBinary is the path of the binary built once by TestMain.
var moatBinary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if bin := os.Getenv("MOAT_E2E_BINARY"); bin != "" {
		moatBinary = bin
		return m.Run()
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "moat-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	moatBinary = filepath.Join(dir, "moat")
	args := []string{"build", "-o", moatBinary}
	if os.Getenv("MOAT_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/moat")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building moat: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// repoRoot finds the module root by walking up from the working directory.
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

// inCI reports whether missing dependencies must fail instead of skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// requireTool returns the path of a client program, looked up first in the
// repository's .tools/bin, then on PATH. A missing tool skips the test, or
// fails it under CI.
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
	if inCI() {
		t.Fatalf("%s not found (CI=true makes this a failure): %s", name, installHint)
	}
	t.Skipf("%s not found: %s", name, installHint)
	return ""
}

// requireRoot skips (or fails in CI) tests that need root.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if inCI() {
		t.Fatalf("%s needs root (CI=true makes this a failure)", why)
	}
	t.Skipf("%s needs root", why)
}

// server is one running `moat serve`.
type server struct {
	Addr    string // host:port, the registry name clients use
	URL     string // http://host:port
	DataDir string
	LogPath string

	stopOnce sync.Once
	stopErr  error
	stopFn   func() error
}

// Stop sends SIGTERM and waits for a clean exit; later calls return the
// first result. Tests call it to restart a server on the same data.
func (s *server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stopFn() })
	return s.stopErr
}

type serverOpts struct {
	database string // a PostgreSQL URL; empty means the embedded SQLite
	dataDir  string // reuse this data directory; empty means a fresh one
}

// startServer starts `moat serve` on a free loopback port with a fresh data
// directory and waits until /v2/ answers. It is stopped with SIGTERM when
// the test ends; a test that failed gets the tail of the server log.
func startServer(t *testing.T, opts serverOpts) *server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := tryStartServer(t, opts)
		if err == nil {
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("starting moat serve: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("port taken")

func tryStartServer(t *testing.T, opts serverOpts) (*server, error) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := t.TempDir()
	s := &server{
		Addr:    fmt.Sprintf("127.0.0.1:%d", port),
		DataDir: filepath.Join(base, "data"),
		LogPath: filepath.Join(base, "moat.log"),
	}
	if opts.dataDir != "" {
		s.DataDir = opts.dataDir
	}
	s.URL = "http://" + s.Addr
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", s.Addr, "--data-dir", s.DataDir}
	if opts.database != "" {
		args = append(args, "--database", opts.database)
	}
	cmd := exec.Command(moatBinary, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=0")
	// If the test binary dies (a timeout), the server dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("exec %s: %w", moatBinary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()

	s.stopFn = func() error {
		select {
		case err := <-exited:
			return fmt.Errorf("moat exited before the test ended: %v", err)
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("moat did not shut down cleanly on SIGTERM: %v", err)
			}
			return nil
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return errors.New("moat did not stop within 20s of SIGTERM; killed")
		}
	}

	if err := waitReady(s.URL, exited); err != nil {
		_ = cmd.Process.Kill()
		logTail := tail(s.LogPath, 40)
		if strings.Contains(logTail, "address already in use") {
			return nil, fmt.Errorf("%w: %s", errPortTaken, s.Addr)
		}
		return nil, fmt.Errorf("%v; moat log:\n%s", err, logTail)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
		if report := findTrouble(s.LogPath); report != "" {
			t.Errorf("moat log shows a data race or panic:\n%s", report)
		} else if t.Failed() {
			t.Logf("last lines of the moat log (%s):\n%s", s.Addr, tail(s.LogPath, 60))
		}
	})
	return s, nil
}

// waitReady polls GET /v2/ until it answers 200 or 401.
func waitReady(url string, exited <-chan error) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("moat serve exited during start: %v", err)
		default:
		}
		resp, err := client.Get(url + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("moat serve did not answer GET /v2/ within 60s")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// findTrouble returns the part of a server log from the first data race
// report or panic on (at most 120 lines), or "" when there is none.
func findTrouble(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	text := string(data)
	at := -1
	for _, marker := range []string{"WARNING: DATA RACE", "panic:"} {
		if i := strings.Index(text, marker); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 {
		return ""
	}
	lines := strings.SplitN(text[at:], "\n", 121)
	return strings.Join(lines[:min(len(lines), 120)], "\n")
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// runner executes client commands with a timeout, an environment and a
// transcript in the test log.
type runner struct {
	t   *testing.T
	env []string
	dir string
}

func newRunner(t *testing.T, env ...string) *runner {
	return &runner{t: t, env: append(os.Environ(), env...)}
}

// run executes the command and fails the test if it fails. It returns stdout.
func (r *runner) run(name string, args ...string) string {
	r.t.Helper()
	out, err := r.try(name, args...)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// try executes the command and returns stdout, or an error that carries the
// command line, its status and its output.
func (r *runner) try(name string, args ...string) (string, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = r.env
	cmd.Dir = r.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	line := filepath.Base(name) + " " + strings.Join(args, " ")
	if err != nil {
		return stdout.String(), fmt.Errorf("%s: %v\nstdout:\n%s\nstderr:\n%s", line, err, clip(stdout.String()), clip(stderr.String()))
	}
	r.t.Logf("ok (%.1fs): %s", time.Since(start).Seconds(), line)
	return stdout.String(), nil
}

// clip keeps error output readable.
func clip(s string) string {
	const max = 4000
	if len(s) <= max {
		return s
	}
	return s[:max/2] + "\n...\n" + s[len(s)-max/2:]
}
