package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLintExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad", "FROM alpine:3\nENV DB_PASSWORD=hunter2hunter2\nUSER app\nHEALTHCHECK NONE\n")
	warn := write("warn", "FROM alpine:3\nWORKDIR rel\nUSER app\nHEALTHCHECK NONE\n")
	bin := write("bin", "FROM \x00\x01")
	cfg := write("cfg.yaml", "version: 1\ndisable: [ML009]\n")

	run := func(files []string, fl lintFlags, failOnSet bool) (string, string, error) {
		var out, errOut bytes.Buffer
		if fl.format == "" {
			fl.format = "table"
		}
		if fl.failOn == "" {
			fl.failOn = "error"
		}
		err := runLint(context.Background(), strings.NewReader(""), &out, &errOut, files, fl, failOnSet)
		return out.String(), errOut.String(), err
	}
	var exit exitError
	if _, _, err := run([]string{bad}, lintFlags{}, false); !errors.As(err, &exit) || exit != 1 {
		t.Errorf("error finding: err = %v, want exit 1", err)
	}
	if _, _, err := run([]string{warn}, lintFlags{}, false); err != nil {
		t.Errorf("warning only, default fail-on error: %v", err)
	}
	if _, _, err := run([]string{warn}, lintFlags{failOn: "warning"}, true); !errors.As(err, &exit) {
		t.Errorf("--fail-on warning: %v", err)
	}
	if _, _, err := run([]string{bad}, lintFlags{config: cfg}, false); err != nil {
		t.Errorf("rule disabled by config: %v", err)
	}
	out, stderr, err := run([]string{bin, warn}, lintFlags{}, false)
	if err == nil || errors.As(err, &exit) || !strings.Contains(stderr, "binary") || !strings.Contains(out, "ML013") {
		t.Errorf("binary input: err %v, stderr %q, out %q", err, stderr, out)
	}
	if _, _, err := run([]string{warn}, lintFlags{format: "xml"}, false); err == nil {
		t.Error("unknown format accepted")
	}
}
