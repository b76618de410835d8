package auth

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

func TestMain(m *testing.M) { os.Exit(moatproc.Main(m)) }

// startServer runs `moat serve --auth` without the harness's robot: these
// tests make their own principals and policies, and count what the audit
// log records. opts come after these defaults.
func startServer(t *testing.T, opts ...moatproc.Option) *moatproc.Server {
	t.Helper()
	defaults := []moatproc.Option{moatproc.WithoutRobot(), moatproc.WithEnv("MOAT_LOG_LEVEL=debug")}
	return moatproc.Start(t, append(defaults, opts...)...)
}

// stop stops the server so that the moat commands can open its data alone.
func stop(t *testing.T, s *moatproc.Server) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}

// refused runs a command that must fail with one of the spec's refusal
// codes in its output (clients print them in various spellings).
func refused(t *testing.T, r *moatproc.Runner, name string, args ...string) {
	t.Helper()
	line := filepath.Base(name) + " " + strings.Join(args, " ")
	out, err := r.Try(name, args...)
	if err == nil {
		t.Fatalf("%s succeeded; want it refused\n%s", line, out)
	}
	var ce *moatproc.CommandError
	if !errors.As(err, &ce) || !isRefusal(ce.Stdout+ce.Stderr) {
		t.Errorf("%s: failed without a refusal in its output: %v", line, err)
	}
	// A refusal the client cannot read (a 401 without a body on HEAD)
	// leaves users guessing (#10).
	if ce != nil && strings.Contains(ce.Stdout+ce.Stderr, "error parsing HTTP") {
		t.Errorf("%s: the client could not read the refusal:\n%s", line, ce.Stderr)
	}
}

// isRefusal reports whether client output shows the registry's DENIED
// (403; a HEAD request, which has no body, shows as "403 Forbidden") or
// UNAUTHORIZED (401, also a token lacking a scope the policy would grant)
// answer, in the spellings the clients use.
func isRefusal(out string) bool {
	lower := strings.ToLower(out)
	for _, s := range []string{"denied", "unauthorized", "authentication required", "insufficient_scope", "forbidden"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// decodeSegment decodes a JWT segment.
func decodeSegment(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}
