package distribution_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/conformance"
)

// conformanceModule is the pinned suite, the version the project's
// scripts build.
const conformanceModule = "github.com/opencontainers/distribution-spec/conformance@" + conformance.Version

// buildConformance returns the binary named by MOAT_CONFORMANCE_BIN, the
// one scripts/install-deps.sh built, or compiles the pinned suite.
func buildConformance(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MOAT_CONFORMANCE_BIN"); bin != "" {
		return bin
	}
	installed := filepath.Join("..", "..", ".tools", "conformance", conformance.Version, "conformance")
	if fi, err := os.Stat(installed); err == nil && fi.Mode().IsRegular() {
		abs, err := filepath.Abs(installed)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "mod", "download", "-json", conformanceModule).Output()
	if err != nil {
		skipOrFail(t, "download conformance suite: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		skipOrFail(t, "parse go mod download output: %v", err)
	}
	// The module cache is read-only and outside our module: build a copy.
	src := filepath.Join(t.TempDir(), "src")
	if out, err := exec.CommandContext(ctx, "cp", "-r", mod.Dir, src).CombinedOutput(); err != nil {
		t.Fatalf("copy suite: %v: %s", err, out)
	}
	if out, err := exec.CommandContext(ctx, "chmod", "-R", "u+w", src).CombinedOutput(); err != nil {
		t.Fatalf("chmod suite: %v: %s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "conformance")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		skipOrFail(t, "build conformance suite: %v: %s", err, out)
	}
	return bin
}

// skipOrFail skips when the suite cannot be fetched outside CI; in CI a
// missing dependency is a failure.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// TestConformance runs the OCI distribution-spec conformance suite against
// the handler backed by the real filesystem driver and each SQL engine.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite is not short")
	}
	bin := buildConformance(t)
	t.Run("sqlite", func(t *testing.T) { runConformance(t, bin, newTestHandler(t)) })
	t.Run("postgres", func(t *testing.T) { runConformance(t, bin, newTestHandlerOn(t, newPostgresStore(t))) })
}

func runConformance(t *testing.T, bin string, h *testEnv) {
	srv := httptest.NewServer(h.handler)
	defer srv.Close()

	results := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), conformance.Env(strings.TrimPrefix(srv.URL, "http://"), results)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	report := stdout.String()
	if i := strings.Index(report, "OCI Conformance Result"); i >= 0 {
		t.Logf("%s", report[i:])
	}
	if err != nil || !strings.Contains(report, "OCI Conformance Result: Pass") {
		t.Errorf("conformance suite failed: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
}
