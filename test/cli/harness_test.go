package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(moatproc.Main(m)) }

// env is the test's environment without MOAT_* settings, so that a
// variable set where the tests run cannot change what the server does
// (MOAT_ADMIN_PASSWORD above all).
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MOAT_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// moat runs a moat command to its end and returns its exit status and
// combined output.
func moat(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, moatproc.Binary(t), args...)
	cmd.Env = env()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("moat %s: %v\n%s", strings.Join(args, " "), err, out)
	return -1, ""
}

// server is one `moat serve` started by the test itself.
type server struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // set before exited closes
}

// syncBuffer is a bytes.Buffer the process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve starts `moat serve args...` and stops it (SIGTERM, exit 0
// expected) when the test ends, unless it has ended already.
func serve(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(moatproc.Binary(t), append([]string{"serve"}, args...)...)
	s := &server{cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.Env = env("GORACE=halt_on_error=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
			if s.err != nil {
				t.Errorf("moat serve did not stop cleanly: %v\n%s", s.err, moatproc.Clip(s.out.String()))
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-s.exited
			t.Errorf("moat serve did not stop within 30s of SIGTERM")
		}
		if strings.Contains(s.out.String(), "DATA RACE") || strings.Contains(s.out.String(), "panic:") {
			t.Errorf("moat serve log shows a data race or panic:\n%s", moatproc.Clip(s.out.String()))
		}
	})
	return s
}

// wait waits for the server to end on its own and returns its exit status.
func (s *server) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(time.Minute):
		t.Fatalf("moat serve still runs after a minute; log:\n%s", moatproc.Clip(s.out.String()))
		return -1
	}
}

// ready waits until GET url/readyz answers 200.
func (s *server) ready(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			t.Fatalf("moat serve exited during start-up: %v\n%s", s.err, moatproc.Clip(s.out.String()))
		default:
		}
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("moat serve not ready within a minute:\n%s", moatproc.Clip(s.out.String()))
}

// occupy listens on a free loopback address until the test ends.
func occupy(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// basicStatus is the status of GET url/v2/ with Basic credentials.
func basicStatus(t *testing.T, url, user, password string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// storeArgs are the flags that open a data directory and database.
func storeArgs(dataDir, database string) []string {
	args := []string{"--data-dir", dataDir}
	if database != "" {
		args = append(args, "--database", database)
	}
	return args
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// onEachDatabase runs f on SQLite (database "") and on a fresh
// PostgreSQL database (skipped without MOAT_TEST_POSTGRES_URL, failed
// under CI=true).
func onEachDatabase(t *testing.T, f func(t *testing.T, database string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "") })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.NewDatabase(t)) })
}
