package sqlstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// testdata/schema-v2.db was written by the store before it moved onto
// internal/sqldb: schema version 2, repository library/app with tag v1 on
// a manifest referencing one blob, all at 2026-01-02T03:04:05Z. It must
// open as it is: no migration rerun, the data readable and writable.
func TestOpensDatabaseOfEarlierRelease(t *testing.T) {
	b, err := os.ReadFile("testdata/schema-v2.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "moat.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	defer s.Close()
	ctx := t.Context()

	rows, err := s.db.R.QueryContext(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v, at int64
		var name string
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		if at != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano() {
			t.Errorf("migration %d reapplied at %v", v, time.Unix(0, at).UTC())
		}
		got = append(got, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(got) != 2 || got[0] != "init" || got[1] != "sorted_indexes" {
		t.Fatalf("schema_migrations = %v", got)
	}

	d, err := s.ResolveTag(ctx, "library/app", "v1")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetManifest(ctx, "library/app", d)
	if err != nil {
		t.Fatal(err)
	}
	layer := digest.FromString("layer")
	if digest.FromBytes(m.Content) != d || len(m.Blobs) != 1 || m.Blobs[0] != layer {
		t.Fatalf("manifest %s: blobs %v", d, m.Blobs)
	}
	if ok, err := s.DeleteBlobIfUnreferenced(ctx, layer, time.Now()); ok || err != nil {
		t.Fatalf("referenced blob deleted: %v, %v", ok, err)
	}
	if err := s.PutBlob(ctx, "library/app", digest.FromString("new"), 3); err != nil {
		t.Fatal(err)
	}
}
