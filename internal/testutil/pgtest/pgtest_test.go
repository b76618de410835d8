package pgtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The missing-server paths are checked in a child process, since they end
// the test that hits them.
func TestMissingServer(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		NewDatabase(t)
		return
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		wantText string
	}{
		{ci: "true", wantFail: true, wantText: "--- FAIL"},
		{ci: "", wantFail: false, wantText: "--- SKIP"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingServer$", "-test.v")
		cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", "CI="+tc.ci, EnvURL+"=")
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail {
			t.Errorf("CI=%q: child failed=%v (%v), want %v\n%s", tc.ci, failed, err, tc.wantFail, out)
		}
		if !strings.Contains(string(out), tc.wantText) || !strings.Contains(string(out), "scripts/postgres.sh start") {
			t.Errorf("CI=%q: output lacks %q and the script name:\n%s", tc.ci, tc.wantText, out)
		}
	}
}

func TestNewDatabase(t *testing.T) {
	admin := AdminURL(t)
	var names []string
	t.Run("create", func(t *testing.T) {
		for range 2 {
			u := NewDatabase(t, WithICULocale("en-US"))
			conn, err := pgx.Connect(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			var name, order string
			if err := conn.QueryRow(t.Context(),
				`SELECT current_database(), string_agg(x, ',' ORDER BY x) FROM (VALUES ('B'), ('a')) v(x)`).
				Scan(&name, &order); err != nil {
				t.Fatal(err)
			}
			conn.Close(context.Background())
			if order != "a,B" {
				t.Errorf("ICU en-US database orders %q, want a,B", order)
			}
			names = append(names, name)
		}
		if names[0] == names[1] {
			t.Fatalf("two databases share the name %s", names[0])
		}
	})
	// The subtest's cleanup dropped both.
	conn, err := pgx.Connect(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left int
	if err := conn.QueryRow(t.Context(), `SELECT COUNT(*) FROM pg_database WHERE datname = ANY($1)`, names).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d test databases survived cleanup", left)
	}
}
