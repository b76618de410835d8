package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/meta/metatest"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// engines lists how to get a fresh database URL on each engine.
var engines = []struct {
	name string
	dsn  func(tb testing.TB) string
}{
	{"sqlite", func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "meta.db") }},
	// An ICU collation proves ordering does not rely on the server locale.
	{"postgres", func(tb testing.TB) string { return pgtest.NewDatabase(tb, pgtest.WithICULocale("en-US")) }},
}

// open opens dsn, closed when the test ends, and keeps a store in it.
func open(tb testing.TB, dsn string, opts ...Option) *Store {
	tb.Helper()
	s, err := New(context.Background(), sqldbtest.Open(tb, dsn), opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

func TestSuite(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			metatest.Run(t, func(t *testing.T) meta.Store { return open(t, e.dsn(t)) })
		})
	}
}

// Replicas starting together race to migrate; exactly one applies each
// migration and all of them open.
func TestNewConcurrentMigration(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			dsn := e.dsn(t)
			const n = 6
			var wg sync.WaitGroup
			stores := make([]*Store, n)
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					var db *sqldb.DB
					if db, errs[i] = sqldb.Open(t.Context(), dsn); errs[i] == nil {
						t.Cleanup(func() { db.Close() })
						stores[i], errs[i] = New(t.Context(), db)
					}
				})
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("replica %d: %v", i, errs[i])
				}
			}
			var rows int
			if err := stores[0].db.W.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			files, _ := fs.Glob(migrations, "migrations/*.sql")
			if rows != len(files) || rows == 0 {
				t.Fatalf("schema_migrations has %d rows, want %d", rows, len(files))
			}
			// Each store works.
			for i, s := range stores {
				if err := s.PutBlob(t.Context(), "r", digest.FromString(fmt.Sprint(i)), 1); err != nil {
					t.Fatalf("store %d: %v", i, err)
				}
			}
		})
	}
}

func TestNewRefusesNewerSchema(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			dsn := e.dsn(t)
			s := open(t, dsn)
			if _, err := s.db.W.Exec(s.db.Q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)`), 9999); err != nil {
				t.Fatal(err)
			}
			s.db.Close()
			_, err := New(t.Context(), sqldbtest.Open(t, dsn))
			if !errors.Is(err, sqldb.ErrSchemaTooNew) {
				t.Fatalf("New on a newer schema: %v, want ErrSchemaTooNew", err)
			}
		})
	}
}

// The manifest_blobs foreign key refuses to drop a referenced blob even
// if a caller bypasses DeleteBlobIfUnreferenced's checks.
func TestReferencedBlobCannotBeDeleted(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, e.dsn(t))
			defer s.Close()
			ctx := t.Context()
			d := digest.FromString("layer")
			if err := s.PutBlob(ctx, "r", d, 5); err != nil {
				t.Fatal(err)
			}
			content := []byte(`{"layers":["` + d.String() + `"]}`)
			m := &meta.Manifest{Repository: "r", Digest: digest.FromBytes(content), Size: int64(len(content)), Content: content, Blobs: []digest.Digest{d}}
			if _, err := s.PutManifest(ctx, m, "v1"); err != nil {
				t.Fatal(err)
			}
			_, err := s.db.W.ExecContext(ctx, s.db.Q(`DELETE FROM blobs WHERE digest = ?`), d.String())
			if !sqldb.IsForeignKeyViolation(err) {
				t.Fatalf("deleting a referenced blob record: %v, want a foreign key violation", err)
			}
		})
	}
}

// Two stores on one SQLite file stand in for two processes: busy_timeout
// and BEGIN IMMEDIATE make their writers wait for each other instead of
// failing with SQLITE_BUSY.
func TestSQLiteTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			for j := range 50 {
				d := digest.FromString(fmt.Sprint(i, "/", j))
				if err := s.PutBlob(t.Context(), "r", d, 1); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c, err := a.GCCandidates(t.Context(), time.Now().Add(time.Hour), 0)
	if err != nil || len(c) != 100 {
		t.Fatalf("after two writers: %d blobs, %v", len(c), err)
	}
	// Data survives reopening.
	a.db.Close()
	a = open(t, path)
	if ok, err := a.HasBlob(t.Context(), digest.FromString("1/49")); err != nil || !ok {
		t.Fatalf("HasBlob after reopen = %v, %v", ok, err)
	}
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// Touch times come from the injected clock, the GC cut-off is strict
// ("before"), and a replica with a slow clock cannot move a touch back.
func TestClock(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
			c := &clock{now: t0}
			s := open(t, e.dsn(t), WithClock(c.Now))
			defer s.Close()
			ctx := t.Context()
			d := digest.FromString("blob")
			if err := s.PutBlob(ctx, "r", d, 1); err != nil {
				t.Fatal(err)
			}
			candidates := func(before time.Time) int {
				t.Helper()
				ds, err := s.GCCandidates(ctx, before, 0)
				if err != nil {
					t.Fatal(err)
				}
				return len(ds)
			}
			if n := candidates(t0); n != 0 {
				t.Fatalf("blob touched at the cut-off is a candidate")
			}
			if n := candidates(t0.Add(time.Nanosecond)); n != 1 {
				t.Fatalf("blob touched before the cut-off is no candidate")
			}
			t1 := t0.Add(time.Hour)
			c.Set(t1)
			if err := s.LinkBlob(ctx, "r2", d); err != nil {
				t.Fatal(err)
			}
			c.Set(t0.Add(-time.Hour)) // a replica running behind
			if err := s.PutBlob(ctx, "r", d, 1); err != nil {
				t.Fatal(err)
			}
			if n := candidates(t1); n != 0 {
				t.Fatalf("a slow clock moved the touch time back")
			}
			if ok, err := s.DeleteBlobIfUnreferenced(ctx, d, t1); ok || err != nil {
				t.Fatalf("DeleteBlobIfUnreferenced at the cut-off = %v, %v", ok, err)
			}
			if ok, err := s.DeleteBlobIfUnreferenced(ctx, d, t1.Add(time.Nanosecond)); !ok || err != nil {
				t.Fatalf("DeleteBlobIfUnreferenced after the cut-off = %v, %v", ok, err)
			}
			c.Set(t1)
			u := &meta.Upload{ID: "u", Repository: "r"}
			if err := s.CreateUpload(ctx, u, 0); err != nil {
				t.Fatal(err)
			}
			if got, err := s.GetUpload(ctx, "u"); err != nil || !got.StartedAt.Equal(t1) || !got.UpdatedAt.Equal(t1) {
				t.Fatalf("upload times = %+v, %v; want %v", got, err, t1)
			}
		})
	}
}

// A database at an older schema version is brought up to date step by
// step, keeping its data; New does it on a database the caller opened
// and leaves that database open.
func TestNewMigratesOlderSchema(t *testing.T) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("this test needs two migrations, found %d", len(files))
	}
	first, err := migrations.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	v1 := fstest.MapFS{files[0]: {Data: first}}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := sqldbtest.Open(t, e.dsn(t))
			if err := db.Migrate(ctx, v1, "migrations", migrationTable, migrationLockKey); err != nil {
				t.Fatal(err)
			}
			old := &Store{db: db, now: time.Now}
			d := digest.FromString("kept")
			if err := old.PutBlob(ctx, "r", d, 7); err != nil {
				t.Fatal(err)
			}

			s, err := New(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			var version int64
			if err := db.R.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil {
				t.Fatal(err)
			}
			if version != int64(len(files)) {
				t.Fatalf("schema version %d after New, want %d", version, len(files))
			}
			if size, err := s.StatBlob(ctx, "r", d); err != nil || size != 7 {
				t.Fatalf("StatBlob after migration = %d, %v", size, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := db.W.PingContext(ctx); err != nil {
				t.Fatalf("Store.Close closed the caller's database: %v", err)
			}
		})
	}
}

// The metadata store and another store's tables share one database, each
// with its own migration table.
func TestNewSharesDatabase(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := sqldbtest.Open(t, e.dsn(t))
			other := fstest.MapFS{"m/0001_other.sql": {Data: []byte(`CREATE TABLE other (id {{ID}})`)}}
			if err := db.Migrate(ctx, other, "m", "other_migrations", 1); err != nil {
				t.Fatal(err)
			}
			s, err := New(ctx, db, WithClock(time.Now))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.PutBlob(ctx, "r", digest.FromString("b"), 1); err != nil {
				t.Fatal(err)
			}
			if _, err := db.W.ExecContext(ctx, `INSERT INTO other DEFAULT VALUES`); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, other, "m", "other_migrations", 1); err != nil {
				t.Fatalf("other store reopening: %v", err)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := New(ctx, nil); err == nil {
		t.Error("New(nil) accepted")
	}
	db := sqldbtest.Open(t, filepath.Join(t.TempDir(), "x.db"))
	if _, err := New(ctx, db, WithClock(nil)); err == nil {
		t.Error("New with a nil clock accepted")
	}
}

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
		// Migrations of that release keep their time; later ones are new.
		if v <= 2 && at != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano() {
			t.Errorf("migration %d reapplied at %v", v, time.Unix(0, at).UTC())
		}
		got = append(got, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(got) < 2 || got[0] != "init" || got[1] != "sorted_indexes" {
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

// With an outbox, pushes and deletes append their events in their own
// transactions; a refused push appends none.
func TestEvents(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := context.Background()
			db := sqldbtest.Open(t, e.dsn(t))
			o, err := events.New(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(ctx, db, WithOutbox(o))
			if err != nil {
				t.Fatal(err)
			}
			layer := digest.FromString("layer")
			if err := s.PutBlob(ctx, "app", layer, 5); err != nil {
				t.Fatal(err)
			}
			put := func(content string, blobs ...digest.Digest) *meta.Manifest {
				return &meta.Manifest{Repository: "app", Digest: digest.FromString(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
					ArtifactType: "application/vnd.oci.image.config.v1+json", Size: int64(len(content)), Content: []byte(content), Blobs: blobs, PushedBy: "robot:ci"}
			}
			m1, m2 := put("one", layer), put("two", layer)
			for _, m := range []*meta.Manifest{m1, m2} {
				if _, err := s.PutManifest(ctx, m, "v1"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.PutManifest(ctx, put("three", digest.FromString("missing")), "v2"); err == nil {
				t.Fatal("push with a missing blob stored")
			}
			if err := s.DeleteManifest(meta.WithActor(ctx, "user:alice"), "app", m1.Digest); err != nil {
				t.Fatal(err)
			}
			evs, _, err := o.Read(ctx, events.Cursor{}, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 3 {
				t.Fatalf("%d events, want 2 pushes and 1 delete", len(evs))
			}
			var data [3]events.ImageData
			for i, ev := range evs {
				if err := json.Unmarshal(ev.Data, &data[i]); err != nil {
					t.Fatal(err)
				}
			}
			if evs[0].Type != events.ImagePushed || data[0].Tag != "v1" || data[0].Previous != "" || data[0].Actor != "robot:ci" ||
				data[0].ArtifactType != "application/vnd.oci.image.config.v1+json" || evs[0].Subject != "app@"+m1.Digest.String() {
				t.Errorf("first push: %s %s", evs[0].Type, evs[0].Data)
			}
			if data[1].Previous != m1.Digest.String() {
				t.Errorf("tag move: %s", evs[1].Data)
			}
			if evs[2].Type != events.ImageDeleted || data[2].Digest != m1.Digest.String() || data[2].Actor != "user:alice" {
				t.Errorf("delete: %s %s", evs[2].Type, evs[2].Data)
			}
		})
	}
}

// Parents finds the indexes of one repository holding a manifest.
func TestParents(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, e.dsn(t))
			child := &meta.Manifest{Repository: "team/app", MediaType: "application/vnd.oci.image.manifest.v1+json",
				Content: []byte(`{"schemaVersion":2,"child":1}`)}
			child.Digest, child.Size = digest.FromBytes(child.Content), int64(len(child.Content))
			for _, repo := range []string{"team/app", "team/other"} {
				c := *child
				c.Repository = repo
				if _, err := s.PutManifest(ctx, &c, ""); err != nil {
					t.Fatal(err)
				}
			}
			index := func(repo, n string) digest.Digest {
				m := &meta.Manifest{Repository: repo, MediaType: "application/vnd.oci.image.index.v1+json",
					Content: []byte(`{"schemaVersion":2,"n":"` + n + `"}`), Children: []digest.Digest{child.Digest}}
				m.Digest, m.Size = digest.FromBytes(m.Content), int64(len(m.Content))
				if _, err := s.PutManifest(ctx, m, ""); err != nil {
					t.Fatal(err)
				}
				return m.Digest
			}
			a, b := index("team/app", "a"), index("team/app", "b")
			index("team/other", "c")
			got, err := s.Parents(ctx, "team/app", child.Digest)
			want := []digest.Digest{a, b}
			if a > b {
				want = []digest.Digest{b, a}
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Parents = %v, %v; want %v", got, err, want)
			}
			if got, err := s.Parents(ctx, "team/app", digest.FromString("none")); err != nil || len(got) != 0 {
				t.Fatalf("Parents of nothing = %v, %v", got, err)
			}
		})
	}
}
