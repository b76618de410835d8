package moatproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// envBinary names a prebuilt moat binary to test instead of building one.
const envBinary = "MOAT_E2E_BINARY"

// envRace set to 1 builds the binary with the race detector.
const envRace = "MOAT_E2E_RACE"

const installHint = "install it with scripts/install-deps.sh"

// Main builds moat into a temporary directory unless envBinary names one,
// publishes the path in envBinary for Binary and Start, runs the tests and
// returns their exit code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(moatproc.Main(m)) }
func Main(m *testing.M) int {
	if os.Getenv(envBinary) != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "moat-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "moatproc:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "moat")
	if err := build(bin); err != nil {
		fmt.Fprintln(os.Stderr, "moatproc:", err)
		return 1
	}
	// The environment, not a package variable, carries the path: it is
	// set once before any test runs.
	if err := os.Setenv(envBinary, bin); err != nil {
		fmt.Fprintln(os.Stderr, "moatproc:", err)
		return 1
	}
	return m.Run()
}

func build(bin string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", bin}
	if os.Getenv(envRace) == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/moat")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building moat: %w\n%s", err, out)
	}
	return nil
}

// Binary returns the path of the moat binary under test.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(envBinary)
	if bin == "" {
		t.Fatalf("no moat binary: call moatproc.Main from TestMain or set %s", envBinary)
	}
	return bin
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

// inCI reports whether a missing dependency must fail a test instead of
// skipping it.
func inCI() bool { return os.Getenv("CI") == "true" }

// RequireTool returns the path of a client program, looked up first in the
// repository's .tools/bin, then on PATH. A missing tool skips the test, or
// fails it under CI=true.
func RequireTool(t testing.TB, name string) string {
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

// RequireRoot skips a test that needs root, or fails it under CI=true.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if inCI() {
		t.Fatalf("%s needs root (CI=true makes this a failure)", why)
	}
	t.Skipf("%s needs root", why)
}
