package main

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/sqlidentity"
	"github.com/moat-dev/moat/internal/sqldb"
)

// newDataDir returns a data directory holding an empty SQLite database,
// as the administration commands refuse to create one.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := sqldb.Open(context.Background(), filepath.Join(dir, "moat.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlidentity.New(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// admin runs an administration command on dir and fails the test unless
// it exits 0.
func admin(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, stdin, append(args, "--data-dir", dir)...)
	if code != 0 {
		t.Fatalf("moat %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// authenticates reports whether user logs in with password on dir.
func authenticates(t *testing.T, dir, user, password string) bool {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(dir, "moat.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := sqlidentity.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.NewService(st)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ids.Authenticate(ctx, user, password)
	return err == nil
}

// auditActions returns "action resource result" of every audit record.
func auditActions(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(admin(t, dir, "", "audit", "export")))
	for sc.Scan() {
		var e struct{ Action, Resource, Result string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		out = append(out, e.Action+" "+e.Resource+" "+e.Result)
	}
	return out
}

// TestUserPasswd: moat user passwd sets a password from stdin, audited;
// the old one stops working, and a missing user or a too short password
// fails with exit 2 and a message.
func TestUserPasswd(t *testing.T) {
	dir := newDataDir(t)
	admin(t, dir, "first-password-1\n", "user", "create", "carol")
	admin(t, dir, "second-password-2\n", "user", "passwd", "carol")
	if !authenticates(t, dir, "carol", "second-password-2") || authenticates(t, dir, "carol", "first-password-1") {
		t.Error("after user passwd, the new password should work and the old one not")
	}
	for _, tc := range []struct{ user, stdin, says string }{
		{"nobody", "some-password-3\n", "not found"},
		{"carol", "\n", "password"},
	} {
		code, _, stderr := runCLI(t, tc.stdin, "user", "passwd", tc.user, "--data-dir", dir)
		if code != 2 || !strings.Contains(stderr, tc.says) {
			t.Errorf("user passwd %s: exit %d, stderr %q; want 2 and %q", tc.user, code, stderr, tc.says)
		}
	}
	got := strings.Join(auditActions(t, dir), "\n")
	for _, want := range []string{"admin:SetPassword user/carol success", "admin:SetPassword user/nobody failure"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log lacks %q:\n%s", want, got)
		}
	}
}
