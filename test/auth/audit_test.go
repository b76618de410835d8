package auth

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestAuditVerify: `moat audit verify` passes on the log a server wrote
// and names the first bad record after a row is edited, deleted, or two
// rows swap places directly in the database; `moat audit export` writes
// every record as a JSON line. On SQLite and on PostgreSQL.
func TestAuditVerify(t *testing.T) {
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) {
		testAuditVerify(t, startServer(t, db))
	})
}

func testAuditVerify(t *testing.T, s *moatproc.Server) {
	// The tampering below goes straight to the server's database.
	driver, dsn := "pgx", s.Database
	if dsn == "" {
		driver, dsn = "sqlite", filepath.Join(s.DataDir, "moat.db")
	}
	moat := func(args ...string) *exec.Cmd {
		return exec.Command(moatproc.Binary(t), append(args, s.StoreArgs()...)...)
	}
	for _, name := range []string{"ann", "ben", "cat"} {
		s.API(t, "POST", "/api/v1/users", map[string]string{"name": name, "password": "password-of-" + name}, nil)
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
	stop(t, s)

	out, err := moat("audit", "verify").CombinedOutput()
	if err != nil || !regexp.MustCompile(`^audit log OK: [0-9]+ records`).Match(out) {
		t.Fatalf("verify untouched log: %v\n%s", err, out)
	}
	var n int
	fmt.Sscanf(string(out), "audit log OK: %d records", &n)
	if n < 6 {
		t.Fatalf("only %d records: %s", n, out)
	}

	export, err := moat("audit", "export").Output()
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
	failed, err := moat("audit", "export", "--result", "failure").Output()
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
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// Tamper, verify, then put the rows back for the next case.
			exec1 := func(q string) {
				t.Helper()
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec1(`CREATE TABLE audit_backup AS SELECT * FROM audit_log`)
			defer func() {
				exec1(`DELETE FROM audit_log`)
				exec1(`INSERT INTO audit_log SELECT * FROM audit_backup`)
				exec1(`DROP TABLE audit_backup`)
			}()
			for _, q := range tc.sql {
				exec1(q)
			}
			out, err := moat("audit", "verify").CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("verify after %s: %v, want exit status 1\n%s", tc.name, err, out)
			}
			if want := fmt.Sprintf("first bad record %d:", tc.bad); !strings.Contains(string(out), want) {
				t.Errorf("verify after %s: %q, want %q", tc.name, out, want)
			}
		})
	}

	// Restored, the log verifies again.
	if out, err := moat("audit", "verify").CombinedOutput(); err != nil {
		t.Errorf("restored log: %v\n%s", err, out)
	}
	if out, err := exec.Command(moatproc.Binary(t), "audit", "verify", "--data-dir", filepath.Join(s.DataDir, "missing")).CombinedOutput(); err == nil {
		t.Errorf("verify of a missing database passed:\n%s", out)
	}
}
