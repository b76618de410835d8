package moatproc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// commandTimeout bounds one client command.
const commandTimeout = 5 * time.Minute

// Runner runs client programs with a private environment and working
// directory, and logs each successful command line with its duration.
type Runner struct {
	t   testing.TB
	Env []string // the full environment
	Dir string   // working directory; "" for the test's
}

// NewRunner returns a Runner whose environment is the test's plus env
// (KEY=VALUE, later settings winning).
func NewRunner(t testing.TB, env ...string) *Runner {
	return &Runner{t: t, Env: append(os.Environ(), env...)}
}

// CommandError is a client command that failed.
type CommandError struct {
	Line           string // program base name and arguments
	Err            error
	Stdout, Stderr string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s: %v\nstdout:\n%s\nstderr:\n%s", e.Line, e.Err, Clip(e.Stdout), Clip(e.Stderr))
}

func (e *CommandError) Unwrap() error { return e.Err }

// Run runs the command, fails the test if it fails, and returns stdout.
func (r *Runner) Run(name string, args ...string) string {
	r.t.Helper()
	out, err := r.Try(name, args...)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// Try runs the command and returns stdout, or a *CommandError.
func (r *Runner) Try(name string, args ...string) (string, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = r.Env
	cmd.Dir = r.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	line := filepath.Base(name) + " " + strings.Join(args, " ")
	if err != nil {
		return stdout.String(), &CommandError{Line: line, Err: err, Stdout: stdout.String(), Stderr: stderr.String()}
	}
	r.t.Logf("ok (%.1fs): %s", time.Since(start).Seconds(), line)
	return stdout.String(), nil
}
