package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/blob/fs"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
)

func TestStorageWritable(t *testing.T) {
	root := t.TempDir()
	d, err := fs.New(root, fs.WithoutSyncUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	check := StorageWritable(d)
	if err := check(context.Background()); err != nil {
		t.Fatalf("writable store: %v", err)
	}
	// The probe leaves nothing behind.
	left, err := os.ReadDir(filepath.Join(root, "uploads"))
	if err != nil || len(left) != 0 {
		t.Errorf("probe left %v (%v)", left, err)
	}
	if os.Geteuid() == 0 {
		// root ignores directory permissions; take the directory away instead.
		if err := os.RemoveAll(filepath.Join(root, "uploads")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "uploads"), []byte("not a dir"), 0o600); err != nil {
			t.Fatal(err)
		}
	} else if err := os.Chmod(filepath.Join(root, "uploads"), 0o500); err != nil {
		t.Fatal(err)
	}
	if err := check(context.Background()); err == nil {
		t.Error("unwritable store passed the check")
	}
}

func TestDatabaseReachable(t *testing.T) {
	ctx := context.Background()
	db := sqldbtest.Open(t, filepath.Join(t.TempDir(), "moat.db"))
	st, err := sqlstore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	check := DatabaseReachable(st)
	if err := check(ctx); err != nil {
		t.Fatalf("open database: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := check(ctx); err == nil {
		t.Error("closed database passed the check")
	}
}
