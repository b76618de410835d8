package fs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/blob"
	"github.com/moat-dev/moat/internal/blob/blobtest"
)

func newDriver(t *testing.T, opts ...Option) *Driver {
	t.Helper()
	d, err := New(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Driver { return newDriver(t) })
}

func TestConformanceWithoutSync(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Driver { return newDriver(t, WithoutSyncUnsafe()) })
}

func put(t *testing.T, d *Driver, data []byte) digest.Digest {
	t.Helper()
	dg := digest.FromBytes(data)
	id := "u" + dg.Encoded()[:16]
	if _, err := d.AppendUpload(t.Context(), id, 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := d.CommitUpload(t.Context(), id, dg, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	return dg
}

// tree lists every path under root with its size, to compare states.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if e.IsDir() {
			out = append(out, rel+"/")
		} else {
			out = append(out, rel+" "+string(rune('0'+fi.Size()%10)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestLayout(t *testing.T) {
	d := newDriver(t)
	dg := put(t, d, []byte("layout"))
	hex := dg.Encoded()
	p := filepath.Join(d.Root(), "blobs", "sha256", hex[:2], hex)
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "layout" {
		t.Fatalf("blob not at %s: %q, %v", p, b, err)
	}
	if _, err := d.AppendUpload(t.Context(), "sess-1", 0, strings.NewReader("up")); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(filepath.Join(d.Root(), "uploads", "sess-1", "data"))
	if err != nil || string(b) != "up" {
		t.Fatalf("upload data: %q, %v", b, err)
	}
	// The committed upload's directory is gone.
	entries, err := os.ReadDir(filepath.Join(d.Root(), "uploads"))
	if err != nil || len(entries) != 1 || entries[0].Name() != "sess-1" {
		t.Fatalf("uploads dir holds %v, %v; want only sess-1", entries, err)
	}
}

func TestNewRelativeRoot(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	d, err := New("store")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(d.Root()) || d.Root() != filepath.Join(dir, "store") {
		t.Fatalf("Root() = %q", d.Root())
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(file); err == nil {
		t.Error("New on a regular file succeeded")
	}
	bad := func(*Driver) error { return errors.New("bad option") }
	if _, err := New(t.TempDir(), bad); err == nil || !strings.Contains(err.Error(), "bad option") {
		t.Errorf("New with failing option = %v", err)
	}
}

// TestInvalidKeysTouchNothing checks that rejected keys leave the tree as
// it was, including keys that would resolve to existing files.
func TestInvalidKeysTouchNothing(t *testing.T) {
	d := newDriver(t)
	ctx := t.Context()
	dg := put(t, d, []byte("victim"))
	if _, err := d.AppendUpload(ctx, "victim", 0, strings.NewReader("victim")); err != nil {
		t.Fatal(err)
	}
	before := tree(t, d.Root())
	hex := dg.Encoded()
	for _, bad := range []digest.Digest{
		digest.Digest("sha256:" + hex[:2] + "/" + hex[3:]),
		"sha256:../../../uploads/victim/data" + digest.Digest(strings.Repeat("0", 29)),
		digest.Digest("sha256:" + strings.ToUpper(hex)),
	} {
		if err := d.Delete(ctx, bad); !errors.Is(err, blob.ErrInvalidDigest) {
			t.Errorf("Delete(%q) = %v", bad, err)
		}
		if err := d.CommitUpload(ctx, "victim", bad, 6); !errors.Is(err, blob.ErrInvalidDigest) {
			t.Errorf("CommitUpload(%q) = %v", bad, err)
		}
	}
	for _, id := range []string{"../uploads/victim", "victim/..", "..", "victim/data"} {
		if err := d.DeleteUpload(ctx, id); !errors.Is(err, blob.ErrInvalidUploadID) {
			t.Errorf("DeleteUpload(%q) = %v", id, err)
		}
		if _, err := d.AppendUpload(ctx, id, 0, strings.NewReader("x")); !errors.Is(err, blob.ErrInvalidUploadID) {
			t.Errorf("AppendUpload(%q) = %v", id, err)
		}
	}
	after := tree(t, d.Root())
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatalf("tree changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestCommitReplacesDamagedBlob: a stored file whose size disagrees with
// its digest is damaged; a verified upload of that digest repairs it.
func TestCommitReplacesDamagedBlob(t *testing.T) {
	d := newDriver(t)
	data := []byte("the real content")
	dg := put(t, d, data)
	hex := dg.Encoded()
	p := filepath.Join(d.Root(), "blobs", "sha256", hex[:2], hex)
	if err := os.Truncate(p, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AppendUpload(t.Context(), "repair", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := d.CommitUpload(t.Context(), "repair", dg, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("blob after repair = %q, %v", b, err)
	}
}

// TestCopyInto exercises the cross-device fallback of CommitUpload.
func TestCopyInto(t *testing.T) {
	d := newDriver(t)
	data := bytes.Repeat([]byte("x"), 100_000)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := filepath.Join(d.Root(), "blobs", "sha256", "ab")
	if err := d.mkdirSynced(dir); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target")
	if err := d.copyInto(t.Context(), f, target, int64(len(data)-1)); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("copyInto with wrong size = %v", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("target exists after failed copy: %v", err)
	}
	if err := d.copyInto(t.Context(), f, target, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(target)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("copied %d bytes, %v", len(b), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left: %v", entries)
	}
}

func TestRemoveTempFiles(t *testing.T) {
	d := newDriver(t)
	dg := put(t, d, []byte("keep"))
	hex := dg.Encoded()
	dir := filepath.Join(d.Root(), "blobs", "sha256", hex[:2])
	old := filepath.Join(dir, tempPrefix+hex+"-123")
	fresh := filepath.Join(dir, tempPrefix+hex+"-456")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	// Temp files are never listed as blobs.
	var walked []digest.Digest
	if err := d.WalkBlobs(t.Context(), func(dg digest.Digest, _ int64) error {
		walked = append(walked, dg)
		return nil
	}); err != nil || len(walked) != 1 || walked[0] != dg {
		t.Fatalf("WalkBlobs = %v, %v", walked, err)
	}
	n, err := d.RemoveTempFiles(t.Context(), time.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("RemoveTempFiles = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Error("old temp file survived")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh temp file removed")
	}
	if _, err := d.Stat(t.Context(), dg); err != nil {
		t.Errorf("blob removed: %v", err)
	}
}

func TestRemoveUploadsBefore(t *testing.T) {
	d := newDriver(t)
	ctx := t.Context()
	for _, id := range []string{"stale", "fresh"} {
		if _, err := d.AppendUpload(ctx, id, 0, strings.NewReader(id)); err != nil {
			t.Fatal(err)
		}
	}
	// A session directory whose data never arrived, e.g. a crash between
	// mkdir and create, or after a commit's rename.
	empty := filepath.Join(d.Root(), "uploads", "empty")
	if err := os.Mkdir(empty, 0o750); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{filepath.Join(d.Root(), "uploads", "stale", "data"), empty} {
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	n, err := d.RemoveUploadsBefore(ctx, time.Now().Add(-24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("RemoveUploadsBefore = %d, %v; want 2", n, err)
	}
	if _, err := d.UploadSize(ctx, "stale"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("stale upload survived: %v", err)
	}
	if size, err := d.UploadSize(ctx, "fresh"); err != nil || size != 5 {
		t.Errorf("fresh upload = %d, %v", size, err)
	}
	if _, err := os.Stat(empty); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty session dir survived: %v", err)
	}
}

func TestWalkIgnoresForeignFiles(t *testing.T) {
	d := newDriver(t)
	dg := put(t, d, []byte("real"))
	hex := dg.Encoded()
	junk := []string{
		filepath.Join("blobs", "sha256", hex[:2], "README"),
		filepath.Join("blobs", "sha256", "zz", strings.Repeat("a", 64)),      // wrong prefix dir
		filepath.Join("blobs", "sha256", "ab", "ab"+strings.Repeat("A", 62)), // upper case
		filepath.Join("blobs", "sha256", "notadir"),                          // file at prefix level
		filepath.Join("blobs", "md5", "ab", "ab"+strings.Repeat("0", 30)),    // unknown algorithm
		filepath.Join("blobs", "sha512", "cd", "cd"+strings.Repeat("0", 62)), // wrong length
	}
	for _, p := range junk {
		full := filepath.Join(d.Root(), p)
		if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var got []digest.Digest
	err := d.WalkBlobs(t.Context(), func(dg digest.Digest, _ int64) error {
		got = append(got, dg)
		return nil
	})
	if err != nil || len(got) != 1 || got[0] != dg {
		t.Fatalf("WalkBlobs = %v, %v; want only %s", got, err, dg)
	}
}

func TestOpenReturnsSeeker(t *testing.T) {
	d := newDriver(t)
	dg := put(t, d, []byte("0123456789"))
	rc, err := d.Open(t.Context(), dg, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rs, ok := rc.(io.ReadSeeker)
	if !ok {
		t.Fatal("Open does not return an io.ReadSeeker")
	}
	if pos, err := rs.Seek(0, io.SeekCurrent); err != nil || pos != 4 {
		t.Fatalf("position = %d, %v", pos, err)
	}
}
