package main

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runCLI runs a command line as main does and returns its exit status,
// stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// groups returns the path (without "moat") of every command that holds
// subcommands, the root's included.
func groups(c *cobra.Command) [][]string {
	var out [][]string
	if c.HasSubCommands() {
		path := strings.Fields(c.CommandPath())[1:]
		out = append(out, path)
	}
	for _, sub := range c.Commands() {
		out = append(out, groups(sub)...)
	}
	return out
}

// TestUnknownSubcommand: every command group refuses a word it does not
// know with exit status 2 and an error naming the group, and shows its
// help (exit 0) when called alone.
func TestUnknownSubcommand(t *testing.T) {
	all := groups(newRootCmd())
	if len(all) < 7 { // moat, audit, completion, db, policy, robot, user
		t.Fatalf("found only these command groups: %q", all)
	}
	for _, path := range all {
		name := strings.Join(append([]string{"moat"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", append(path, "frobnicate")...)
			if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate" for "`+name+`"`) {
				t.Errorf("%s frobnicate: exit %d, stderr %q", name, code, stderr)
			}
			code, stdout, stderr := runCLI(t, "", path...)
			if code != 0 || !strings.Contains(stdout, "Usage:") || stderr != "" {
				t.Errorf("%s alone: exit %d, stdout %q, stderr %q", name, code, stdout, stderr)
			}
		})
	}
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"robot", "lst"}, "did you mean list?"},
		{[]string{"polcy", "list"}, "did you mean policy?"},
		{[]string{"frob"}, "moat takes audit, check, completion, db, inventory, lifecycle,"},
		{[]string{"help", "frob"}, `unknown command "frob" for "moat"`},
		{[]string{"help", "robot", "lst"}, "did you mean list?"},
		{[]string{"serve", "--adr", ":5000"}, "unknown flag: --adr"},
	} {
		code, _, stderr := runCLI(t, "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.mention) {
			t.Errorf("moat %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.mention)
		}
	}
	if code, stdout, _ := runCLI(t, "", "help", "robot"); code != 0 || !strings.Contains(stdout, "moat robot [command]") {
		t.Errorf("moat help robot: exit %d\n%s", code, stdout)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "version")
	if code != 0 || !strings.HasPrefix(stdout, "moat ") || !strings.Contains(stdout, "built with go") {
		t.Errorf("moat version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var b strings.Builder
	bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Path: "github.com/moat-dev/moat", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	if err := writeVersion(&b, bi); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"moat v1.2.3\n", "revision 0123abcd (2026-01-02T03:04:05Z), with uncommitted changes\n", "built with go1.99.1 for "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := writeVersion(&b, nil); err != nil || !strings.HasPrefix(b.String(), "moat unknown\nbuilt with go") {
		t.Errorf("without build info: %v %q", err, b.String())
	}
}
