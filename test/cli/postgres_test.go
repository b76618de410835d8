package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestPostgresScriptAfterServe is `make run` then `make test` as root:
// scripts/postgres.sh, which runs PostgreSQL as the postgres user, must
// start its cluster in a checkout where moat serve has made ./.tmp (the
// data directory's parents stay world-searchable), and in one whose
// ./.tmp something else made private (the cluster moves to /tmp). The
// checkout is a copy holding only the script, on a port of its own.
func TestPostgresScriptAfterServe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("as another user PostgreSQL runs as that user, who reaches the checkout anyway")
	}
	if matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(matches) == 0 {
		if _, err := exec.LookPath("initdb"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("no initdb (CI=true makes this a failure): install it with scripts/install-deps.sh")
			}
			t.Skip("no initdb: install it with scripts/install-deps.sh")
		}
	}
	script, err := filepath.Abs("../../scripts/postgres.sh")
	must(t, err)
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, repo string)
		inRepo  bool // the cluster stays in ./.tmp/pg
	}{
		{"moat made .tmp", func(t *testing.T, repo string) {
			addr := moatproc.FreeAddr(t)
			s := serve(t, "--addr", addr, "--data-dir", filepath.Join(repo, ".tmp", "data"), "--auth")
			s.ready(t, "http://"+addr)
		}, true},
		{"private .tmp", func(t *testing.T, repo string) {
			must(t, os.Mkdir(filepath.Join(repo, ".tmp"), 0o750))
			must(t, os.Chmod(filepath.Join(repo, ".tmp"), 0o750))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			// t.TempDir makes private directories; a checkout is not.
			for d := repo; d != filepath.Dir(os.TempDir()); d = filepath.Dir(d) {
				if strings.HasPrefix(d, os.TempDir()+"/") {
					must(t, os.Chmod(d, 0o755))
				}
			}
			must(t, os.Mkdir(filepath.Join(repo, "scripts"), 0o755))
			b, err := os.ReadFile(script)
			must(t, err)
			must(t, os.WriteFile(filepath.Join(repo, "scripts", "postgres.sh"), b, 0o755))
			tc.prepare(t, repo)

			_, port, _ := strings.Cut(moatproc.FreeAddr(t), ":")
			r := moatproc.NewRunner(t, "MOAT_PG_PORT="+port, "MOAT_PG_DIR=")
			pg := filepath.Join(repo, "scripts", "postgres.sh")
			dir := strings.TrimSpace(r.Run(pg, "dir"))
			t.Cleanup(func() {
				if _, err := r.Try(pg, "stop"); err != nil {
					t.Error(err)
				}
				os.RemoveAll(dir)
				os.Remove(dir + ".initdb.log")
			})
			if inRepo := dir == filepath.Join(repo, ".tmp", "pg"); inRepo != tc.inRepo {
				t.Errorf("cluster directory %s; want it in the checkout: %v", dir, tc.inRepo)
			}
			url := strings.TrimSpace(r.Run(pg, "start"))
			if !strings.Contains(url, "127.0.0.1:"+port) {
				t.Errorf("postgres.sh start printed %q", url)
			}
			r.Run(pg, "status")
		})
	}
}
