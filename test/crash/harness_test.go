package crash

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// moatBinary is built once by TestMain.
var moatBinary string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "moat-crash-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	moatBinary = filepath.Join(dir, "moat")
	cmd := exec.Command("go", "build", "-o", moatBinary, "./cmd/moat")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "crash: building moat: %v\n%s", err, out)
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

// syncBuffer collects a server's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// server is one run of `moat serve`.
type server struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	done chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer runs moat on addr and waits until /readyz answers 200. env
// adds KEY=VALUE settings after the test's defaults.
func startServer(t *testing.T, addr, dataDir, database string, env ...string) *server {
	t.Helper()
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir}
	if database != "" {
		args = append(args, "--database", database)
	}
	s := &server{addr: addr, logs: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(moatBinary, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	// Background tasks must not interfere with what the test inspects.
	s.cmd.Env = append(os.Environ(), "MOAT_GC_INTERVAL=0", "MOAT_UPLOADS_PURGE_INTERVAL=0", "MOAT_LOG_LEVEL=warn")
	s.cmd.Env = append(s.cmd.Env, env...)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("moat exited during start-up:\n%s", s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("moat not ready within 30s:\n%s", s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// dumpAndKill makes the Go runtime print every goroutine into the logs
// (SIGQUIT), for diagnosing a hung server, and waits for it to exit.
func (s *server) dumpAndKill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.kill()
	}
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

func portAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
