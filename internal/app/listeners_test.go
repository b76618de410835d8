package app

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestMakeDataDir: the data directory is private to moat's user and
// group, but parents it creates stay reachable for other users (a new
// ./.tmp holding the data directory once blocked PostgreSQL, run as its
// own user by scripts/postgres.sh, from ./.tmp/pg).
func TestMakeDataDir(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	base := t.TempDir()
	dir := filepath.Join(base, ".tmp", "data")
	if err := makeDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := makeDataDir(dir); err != nil {
		t.Fatalf("second call: %v", err)
	}
	for path, want := range map[string]os.FileMode{filepath.Join(base, ".tmp"): 0o755, dir: 0o750} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}
