package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyCommands: policies are listed, detached and deleted from the
// command line, each change audited like put and attach; mistakes (an
// empty or non-JSON file, an unknown target type, a target the policy is
// not attached to, a missing policy) exit 2 with a message that says so.
func TestPolicyCommands(t *testing.T) {
	dir := newDataDir(t)
	files := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	doc := write("team-a.json", `{"Version":"2026-01-01","Statement":[{"Sid":"TeamA","Effect":"Allow","Action":"registry:Pull","Resource":"repository/team-a/*"}]}`)
	admin(t, dir, "", "robot", "create", "ci-a")
	admin(t, dir, "", "policy", "put", "team-a-ci", "--kind", "identity", "--file", doc)
	admin(t, dir, "", "policy", "attach", "team-a-ci", "robot:ci-a")
	list := admin(t, dir, "", "policy", "list")
	if !strings.HasPrefix(list, "NAME") || !strings.Contains(list, "team-a-ci") || !strings.Contains(list, "identity") || !strings.Contains(list, "robot:ci-a") {
		t.Errorf("policy list:\n%s", list)
	}
	admin(t, dir, "", "policy", "detach", "team-a-ci", "robot:ci-a")
	if list := admin(t, dir, "", "policy", "list"); strings.Contains(list, "robot:ci-a") {
		t.Errorf("still attached after detach:\n%s", list)
	}

	fails := func(says string, args ...string) {
		t.Helper()
		code, _, stderr := runCLI(t, "", append(args, "--data-dir", dir)...)
		if code != 2 || !strings.Contains(stderr, says) {
			t.Errorf("moat %s: exit %d, stderr %q; want 2 and %q", strings.Join(args, " "), code, stderr, says)
		}
		if strings.Contains(stderr, "RawMessage") {
			t.Errorf("moat %s leaks an encoding error: %s", strings.Join(args, " "), stderr)
		}
	}
	fails("is not attached to robot:ci-a", "policy", "detach", "team-a-ci", "robot:ci-a")
	fails(`type "robots" is none of user, group, robot, repository, listener`, "policy", "attach", "team-a-ci", "robots:ci-a")
	fails("want TYPE:NAME", "policy", "detach", "team-a-ci", "ci-a")
	fails(`policy "no-such": not found`, "policy", "detach", "no-such", "robot:ci-a")
	empty := write("empty.json", "\n")
	fails("policy file "+empty+" is empty", "policy", "put", "p", "--file", empty)
	notJSON := write("policy.yaml", "Version: 2026-01-01\n")
	fails("policy file "+notJSON+" is not JSON", "policy", "put", "p", "--file", notJSON)

	admin(t, dir, "", "policy", "delete", "team-a-ci")
	if list := admin(t, dir, "", "policy", "list"); strings.Contains(list, "team-a-ci") {
		t.Errorf("listed after delete:\n%s", list)
	}
	fails(`policy "team-a-ci": not found`, "policy", "delete", "team-a-ci")

	got := strings.Join(auditActions(t, dir), "\n")
	for _, want := range []string{
		"admin:PutPolicy policy/team-a-ci success",
		"admin:AttachPolicy policy/team-a-ci success",
		"admin:DetachPolicy policy/team-a-ci success",
		"admin:DetachPolicy policy/team-a-ci failure",
		"admin:DeletePolicy policy/team-a-ci success",
		"admin:DeletePolicy policy/team-a-ci failure",
		"admin:PutPolicy policy/p failure",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log lacks %q:\n%s", want, got)
		}
	}
}
