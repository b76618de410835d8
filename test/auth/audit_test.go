package auth

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestAuditVerify: `moat audit verify` passes on the log a server wrote
// and names the first bad record after a row is edited, deleted, or two
// rows swap places directly in the database; `moat audit export` writes
// every record as a JSON line.
func TestAuditVerify(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	for _, name := range []string{"ann", "ben", "cat"} {
		s.api(t, "POST", "/api/v1/users", map[string]string{"name": name, "password": "password-of-" + name}, nil)
	}
	for _, user := range []string{"ann", "nobody"} {
		req, _ := http.NewRequest("GET", s.URL+"/auth/token?service=moat&scope=repository:x/y:pull", nil)
		req.SetBasicAuth(user, "password-of-"+user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	s.stop(t)

	out, err := exec.Command(moatBinary, "audit", "verify", "--data-dir", dataDir).CombinedOutput()
	if err != nil || !regexp.MustCompile(`^audit log OK: [0-9]+ records`).Match(out) {
		t.Fatalf("verify untouched log: %v\n%s", err, out)
	}
	var n int
	fmt.Sscanf(string(out), "audit log OK: %d records", &n)
	if n < 6 {
		t.Fatalf("only %d records: %s", n, out)
	}

	export, err := exec.Command(moatBinary, "audit", "export", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(string(export)))
	for sc.Scan() {
		var rec struct {
			Seq          int
			Actor        string
			Action       string
			Result, Hash string
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Seq != lines+1 || rec.Hash == "" {
			t.Fatalf("export line %d: %v %s", lines+1, err, sc.Bytes())
		}
		lines++
	}
	if lines != n {
		t.Errorf("export wrote %d lines for %d records", lines, n)
	}
	failed, err := exec.Command(moatBinary, "audit", "export", "--data-dir", dataDir, "--result", "failure").Output()
	if err != nil || !strings.Contains(string(failed), `"actor":"login:nobody"`) || strings.Count(string(failed), "\n") != 1 {
		t.Errorf("export of failures: %v\n%s", err, failed)
	}

	for _, tc := range []struct {
		name string
		sql  []string
		bad  int
	}{
		{"edit", []string{`UPDATE audit_log SET actor = 'user:someone-else' WHERE seq = 3`}, 3},
		{"edit details", []string{`UPDATE audit_log SET details = '{}' WHERE seq = 2`}, 2},
		{"delete", []string{`DELETE FROM audit_log WHERE seq = 4`}, 4},
		{"delete the last", []string{fmt.Sprintf(`DELETE FROM audit_log WHERE seq = %d`, n)}, n},
		{"reorder", []string{
			`UPDATE audit_log SET seq = -1 WHERE seq = 2`,
			`UPDATE audit_log SET seq = 2 WHERE seq = 3`,
			`UPDATE audit_log SET seq = 3 WHERE seq = -1`}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDatabase(t, dataDir)
			db, err := sql.Open("sqlite", filepath.Join(dir, "moat.db"))
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range tc.sql {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(moatBinary, "audit", "verify", "--data-dir", dir).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("verify after %s: %v, want exit status 1\n%s", tc.name, err, out)
			}
			if want := fmt.Sprintf("first bad record %d:", tc.bad); !strings.Contains(string(out), want) {
				t.Errorf("verify after %s: %q, want %q", tc.name, out, want)
			}
		})
	}

	// The original is untouched by the copies' tampering.
	if out, err := exec.Command(moatBinary, "audit", "verify", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Errorf("original log: %v\n%s", err, out)
	}
	if out, err := exec.Command(moatBinary, "audit", "verify", "--data-dir", filepath.Join(dataDir, "missing")).CombinedOutput(); err == nil {
		t.Errorf("verify of a missing database passed:\n%s", out)
	}
}

// copyDatabase copies the SQLite database (and its WAL, if any) of
// dataDir into a new directory.
func copyDatabase(t *testing.T, dataDir string) string {
	t.Helper()
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		src, err := os.Open(filepath.Join(dataDir, "moat.db"+suffix))
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(dir, "moat.db"+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
