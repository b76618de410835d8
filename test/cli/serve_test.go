package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// generated matches the once-only admin password line of the first start.
var generated = regexp.MustCompile(`created user "admin" with password (\S+)`)

// TestBindFailureCreatesNothing: a first start that cannot bind one of
// its listeners (the main one, or an extra one from the configuration
// file) exits non-zero, names the port, creates neither the database nor
// the admin user and prints no password. The next start that binds
// creates the admin and prints its password once, and that password logs
// in.
func TestBindFailureCreatesNothing(t *testing.T) {
	for _, taken := range []string{"main", "extra"} {
		t.Run(taken+" listener taken", func(t *testing.T) {
			onEachDatabase(t, func(t *testing.T, database string) { testBindFailure(t, database, taken) })
		})
	}
}

func testBindFailure(t *testing.T, database, taken string) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	busy := occupy(t)
	main, extra := moatproc.FreeAddr(t), moatproc.FreeAddr(t)
	if taken == "main" {
		main = busy
	} else {
		extra = busy
	}
	cfg := filepath.Join(dir, "moat.yaml")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf("version: 1\nlisteners:\n  - name: extra\n    addr: %s\n", extra)), 0o644))
	args := append([]string{"--addr", main, "--config", cfg, "--auth"}, storeArgs(dataDir, database)...)

	failed := serve(t, args...)
	code := failed.wait(t)
	out := failed.out.String()
	if code == 0 || !strings.Contains(out, busy) || !strings.Contains(out, "address already in use") {
		t.Fatalf("start on a taken port (%s): exit %d; want non-zero naming %s\n%s", busy, code, busy, out)
	}
	if strings.Contains(strings.ToLower(out), "password") {
		t.Errorf("a start that failed to bind printed a password:\n%s", out)
	}
	if database == "" {
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			entries, _ := os.ReadDir(dataDir)
			t.Errorf("a start that failed to bind created %s (%v): %v", dataDir, err, entries)
		}
	} else {
		code, users := moat(t, "", append([]string{"user", "list"}, storeArgs(dataDir, database)...)...)
		if code != 0 || strings.Contains(users, "admin") {
			t.Errorf("after a start that failed to bind, moat user list: exit %d\n%s", code, users)
		}
	}

	// Now a start that binds: the admin appears, with its password shown
	// once, and that password works.
	main, extra = moatproc.FreeAddr(t), moatproc.FreeAddr(t)
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf("version: 1\nlisteners:\n  - name: extra\n    addr: %s\n", extra)), 0o644))
	args = append([]string{"--addr", main, "--config", cfg, "--auth"}, storeArgs(dataDir, database)...)
	s := serve(t, args...)
	s.ready(t, "http://"+main)
	m := generated.FindStringSubmatch(s.out.String())
	if m == nil {
		t.Fatalf("the first start that bound printed no admin password:\n%s", s.out.String())
	}
	if got := basicStatus(t, "http://"+main, "admin", m[1]); got != 200 {
		t.Errorf("GET /v2/ as admin with the printed password: %d, want 200", got)
	}
	if got := basicStatus(t, "http://"+extra, "admin", m[1]); got != 200 {
		t.Errorf("GET /v2/ on the extra listener as admin: %d, want 200", got)
	}
}
