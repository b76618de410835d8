package moatproc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// AdminPassword is the password of user admin on every server Start runs
// with access control on.
const AdminPassword = "admin-test-password-1"

// RobotName is the robot Start creates; it logs in as "robot+" + RobotName.
const RobotName = "tester"

// robotPolicy is the robot's identity policy: every registry action (pull,
// push, delete, tag and repository listing) everywhere.
const robotPolicy = `{"Version":"2026-01-01","Statement":[{"Sid":"Tests","Effect":"Allow","Action":"registry:*","Resource":"*"}]}`

const (
	readyTimeout = 60 * time.Second // a race-detector build starts slowly
	stopTimeout  = 30 * time.Second
)

// Credentials are a username and a password or secret.
type Credentials struct{ Username, Password string }

// Pair returns "username:password", as skopeo --creds and ctr --user take it.
func (c Credentials) Pair() string { return c.Username + ":" + c.Password }

type config struct {
	database    string
	clientHost  string
	auth, robot bool
	args, env   []string
	tls         *tls.Config
}

// Option configures Start.
type Option func(*config)

// WithDatabase selects the metadata database, a postgres:// URL. Default:
// the embedded SQLite database in the data directory.
func WithDatabase(url string) Option { return func(c *config) { c.database = url } }

// WithClientHost names the server host:PORT in Addr and URL (clients and
// the harness use it) while it still listens on 127.0.0.1:PORT, as
// `make run` does; e.g. "localhost", the name README examples use.
// Default: 127.0.0.1.
func WithClientHost(host string) Option { return func(c *config) { c.clientHost = host } }

// WithArgs appends flags to `moat serve`.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// WithEnv adds KEY=VALUE settings to the server's environment, after the
// inherited ones.
func WithEnv(kv ...string) Option {
	return func(c *config) { c.env = append(c.env, kv...) }
}

// WithoutAuth starts the server with an explicit --auth=false: anonymous
// callers may do everything and there is no robot. Default: --auth.
func WithoutAuth() Option { return func(c *config) { c.auth = false } }

// WithoutRobot skips creating the robot, for tests that make their own
// principals. Default: the robot is created.
func WithoutRobot() Option { return func(c *config) { c.robot = false } }

// WithTLS tells the harness that the main listener serves HTTPS, set up by
// the test's own flags or environment (WithArgs, WithEnv): URL becomes
// https://, and the harness's requests trust roots. With nil roots the
// harness does not verify the certificate, for a CA that only exists once
// the server has started (--tls-self-signed); the test checks it itself.
// Default: plain HTTP.
func WithTLS(roots *x509.CertPool) Option {
	return func(c *config) {
		c.tls = &tls.Config{RootCAs: roots, InsecureSkipVerify: roots == nil}
	}
}

// Server is one `moat serve` and its restarts on the same address, data
// directory and database.
type Server struct {
	Addr     string // host:port, the registry name clients use (see WithClientHost)
	URL      string // http://host:port
	DataDir  string
	Database string // the --database URL, "" for SQLite in DataDir
	LogPath  string // every run's output, appended
	Auth     bool
	Admin    Credentials // zero without access control
	Robot    Credentials // zero without access control or with WithoutRobot

	t      testing.TB
	listen string // the --addr, 127.0.0.1:port
	args   []string
	env    []string
	scheme string
	client *http.Client // the harness's own requests

	mu   sync.Mutex
	proc *process
}

// process is one run of the binary.
type process struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error       // set before exited closes
	ended    atomic.Bool // the test stopped, killed or signalled it
	stopOnce sync.Once
	stopErr  error
}

var errPortTaken = errors.New("port taken")

// Start runs `moat serve` on a free loopback port and waits until /readyz
// answers 200. With access control on (the default) it then creates the
// robot. The server is stopped with SIGTERM when the test ends, which must
// make it exit 0; a panic or data race in its log fails the test, and a
// failed test gets the tail of the log.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{auth: true, robot: true, clientHost: "127.0.0.1"}
	for _, o := range opts {
		o(&cfg)
	}
	base := t.TempDir()
	s := &Server{
		DataDir:  filepath.Join(base, "data"),
		Database: cfg.database,
		LogPath:  filepath.Join(base, "moat.log"),
		Auth:     cfg.auth,
		t:        t,
		env:      append([]string{"GORACE=halt_on_error=0"}, cfg.env...),
		scheme:   "http",
		client:   &http.Client{Timeout: 10 * time.Second},
	}
	if cfg.tls != nil {
		s.scheme = "https"
		s.client.Transport = &http.Transport{TLSClientConfig: cfg.tls}
	}
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s.args = []string{"serve", "--data-dir", s.DataDir}
	if s.Database != "" {
		s.args = append(s.args, "--database", s.Database)
	}
	if s.Auth {
		s.args = append(s.args, "--auth")
		s.env = append([]string{"MOAT_ADMIN_PASSWORD=" + AdminPassword}, s.env...)
		s.Admin = Credentials{"admin", AdminPassword}
	} else {
		s.args = append(s.args, "--auth=false")
	}
	s.args = append(s.args, cfg.args...)

	bin := Binary(t)
	var err error
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		s.listen = fmt.Sprintf("127.0.0.1:%d", port)
		s.Addr = fmt.Sprintf("%s:%d", cfg.clientHost, port)
		s.URL = s.scheme + "://" + s.Addr
		if err = s.launch(bin); !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting moat serve: %v", err)
	}
	t.Cleanup(s.cleanup)
	s.checkAccessControl(t)
	if s.Auth && cfg.robot {
		s.Robot = s.createRobot(t)
	}
	return s
}

// checkAccessControl makes sure the server enforces what it was started
// with, so that no test passes against an open registry by mistake: an
// anonymous GET /v2/ is refused with access control on and answered
// without it.
func (s *Server) checkAccessControl(t testing.TB) {
	t.Helper()
	resp, err := s.client.Get(s.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := http.StatusOK
	if s.Auth {
		want = http.StatusUnauthorized
	}
	if resp.StatusCode != want {
		t.Fatalf("anonymous GET /v2/ with access control %v: %d, want %d", s.Auth, resp.StatusCode, want)
	}
}

// launch starts one run on s.Addr and waits for it to be ready.
func (s *Server) launch(bin string) error {
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	start, _ := logFile.Seek(0, io.SeekEnd)
	cmd := exec.Command(bin, append(append([]string{}, s.args...), "--addr", s.listen)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), s.env...)
	// If the test binary dies (a timeout), the server dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("exec %s: %w", bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	if err := waitReady(s.client, s.URL, p.exited); err != nil {
		_ = cmd.Process.Kill()
		<-p.exited
		p.ended.Store(true)
		runLog := readFrom(s.LogPath, start)
		if strings.Contains(runLog, "address already in use") {
			return fmt.Errorf("%w: %s", errPortTaken, s.Addr)
		}
		return fmt.Errorf("%v; moat log:\n%s", err, Clip(runLog))
	}
	return nil
}

// waitReady polls GET /readyz until it answers 200.
func waitReady(client *http.Client, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("moat serve exited during start-up")
		default:
		}
		resp, err := client.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("moat serve not ready within %s", readyTimeout)
}

// FreeAddr returns a loopback address (127.0.0.1:port) nothing listened
// on a moment ago, for a listener a test configures itself.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) current() *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Stop sends SIGTERM and waits for a clean exit. It returns an error when
// the server had exited on its own, exited non-zero, or needed SIGKILL
// after 30s; later calls for the same run return the first result, and a
// run the test killed or signalled stops without error.
func (s *Server) Stop() error {
	p := s.current()
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *process) stop() error {
	select {
	case <-p.exited:
		if !p.ended.Load() {
			return fmt.Errorf("moat exited before the test stopped it: %v", p.waitErr)
		}
		return nil
	default:
	}
	p.ended.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("moat did not shut down cleanly on SIGTERM: %v", p.waitErr)
		}
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("moat did not stop within %s of SIGTERM; killed", stopTimeout)
	}
}

// Kill sends SIGKILL, as a crash would, and waits for the process to end.
func (s *Server) Kill() {
	p := s.current()
	p.ended.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// KillWithDump makes the Go runtime write every goroutine's stack to the
// log (SIGQUIT), for diagnosing a hung server, and waits for it to end.
func (s *Server) KillWithDump() {
	p := s.current()
	p.ended.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Signal sends sig to the running server; the test then owns its exit
// (see Exited and ExitCode).
func (s *Server) Signal(sig os.Signal) error {
	p := s.current()
	p.ended.Store(true)
	return p.cmd.Process.Signal(sig)
}

// Exited is closed when the current run has ended.
func (s *Server) Exited() <-chan struct{} { return s.current().exited }

// ExitCode is the current run's exit status, or -1 while it runs or when
// a signal ended it.
func (s *Server) ExitCode() int {
	p := s.current()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Restart starts the server again on the same address, data directory,
// database and settings, after Stop, Kill or Signal ended it. The robot
// and its credentials are kept, as they live in the database.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	select {
	case <-s.Exited():
	default:
		t.Fatal("Restart: moat is still running; Stop or Kill it first")
	}
	if err := s.launch(Binary(t)); err != nil {
		t.Fatalf("restarting moat serve: %v", err)
	}
}

// StoreArgs returns the flags (--data-dir, and --database when set) with
// which the other moat commands (audit, robot, policy...) open this
// server's data.
func (s *Server) StoreArgs() []string {
	args := []string{"--data-dir", s.DataDir}
	if s.Database != "" {
		args = append(args, "--database", s.Database)
	}
	return args
}

// Log returns everything every run of the server has written so far.
func (s *Server) Log() string {
	return readFrom(s.LogPath, 0)
}

func (s *Server) cleanup() {
	if err := s.Stop(); err != nil {
		s.t.Error(err)
	}
	if report := findTrouble(s.Log()); report != "" {
		s.t.Errorf("moat log shows a data race or panic:\n%s", report)
	} else if s.t.Failed() {
		s.t.Logf("last lines of the moat log (%s):\n%s", s.Addr, tail(s.Log(), 60))
	}
}
