package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/blob"
)

// Run runs the conformance suite. newDriver must return an empty driver
// that no other test uses; it is called once per subtest.
func Run(t *testing.T, newDriver func(t *testing.T) blob.Driver) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, d blob.Driver)
	}{
		{"RoundTrip", testRoundTrip},
		{"SHA512", testSHA512},
		{"EmptyBlob", testEmptyBlob},
		{"NotFound", testNotFound},
		{"InvalidDigest", testInvalidDigest},
		{"InvalidUploadID", testInvalidUploadID},
		{"AppendOffsets", testAppendOffsets},
		{"AppendReaderError", testAppendReaderError},
		{"AppendCanceled", testAppendCanceled},
		{"OpenOffsets", testOpenOffsets},
		{"CommitSizeMismatch", testCommitSizeMismatch},
		{"CommitIdempotent", testCommitIdempotent},
		{"ConcurrentCommitSameContent", testConcurrentCommitSameContent},
		{"ConcurrentReads", testConcurrentReads},
		{"ConcurrentAppendSameUpload", testConcurrentAppendSameUpload},
		{"NoLeftovers", testNoLeftovers},
		{"Walk", testWalk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newDriver(t))
		})
	}
}

// randomBytes returns n bytes of random content; random so that parallel
// runs and repeated tests never share digests by accident.
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// newID returns a fresh valid upload ID (26 characters of base32).
func newID(*testing.T) string {
	return rand.Text()
}

// upload appends data to a new upload and returns its ID.
func upload(t *testing.T, d blob.Driver, data []byte) string {
	t.Helper()
	id := newID(t)
	n, err := d.AppendUpload(t.Context(), id, 0, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("AppendUpload(%s) = %d, %v; want %d, nil", id, n, err, len(data))
	}
	return id
}

// put stores data as a committed blob and returns its digest.
func put(t *testing.T, d blob.Driver, data []byte) digest.Digest {
	t.Helper()
	dg := digest.FromBytes(data)
	id := upload(t, d, data)
	if err := d.CommitUpload(t.Context(), id, dg, int64(len(data))); err != nil {
		t.Fatalf("CommitUpload(%s) = %v", dg, err)
	}
	return dg
}

func readBlob(t *testing.T, d blob.Driver, dg digest.Digest, offset int64) []byte {
	t.Helper()
	rc, err := d.Open(t.Context(), dg, offset)
	if err != nil {
		t.Fatalf("Open(%s, %d) = %v", dg, offset, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", dg, err)
	}
	return b
}

func readUpload(t *testing.T, d blob.Driver, id string) []byte {
	t.Helper()
	rc, err := d.OpenUpload(t.Context(), id)
	if err != nil {
		t.Fatalf("OpenUpload(%s) = %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read upload %s: %v", id, err)
	}
	return b
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

func wantSize(t *testing.T, d blob.Driver, dg digest.Digest, size int64) {
	t.Helper()
	got, err := d.Stat(t.Context(), dg)
	if err != nil || got != size {
		t.Fatalf("Stat(%s) = %d, %v; want %d", dg, got, err, size)
	}
}

func wantNoUpload(t *testing.T, d blob.Driver, id string) {
	t.Helper()
	_, err := d.UploadSize(t.Context(), id)
	wantErr(t, "UploadSize of finished upload "+id, err, blob.ErrNotFound)
}

func testRoundTrip(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	data := randomBytes(t, 1<<20+17)
	dg := digest.FromBytes(data)
	id := newID(t)
	var offset int64
	for _, chunk := range [][]byte{data[:1], data[1 : 1<<19], data[1<<19:]} {
		n, err := d.AppendUpload(ctx, id, offset, bytes.NewReader(chunk))
		if err != nil || n != int64(len(chunk)) {
			t.Fatalf("AppendUpload at %d = %d, %v", offset, n, err)
		}
		offset += n
		size, err := d.UploadSize(ctx, id)
		if err != nil || size != offset {
			t.Fatalf("UploadSize = %d, %v; want %d", size, err, offset)
		}
	}
	if !bytes.Equal(readUpload(t, d, id), data) {
		t.Fatal("OpenUpload returned different bytes")
	}
	if _, err := d.Stat(ctx, dg); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("blob visible before commit: Stat = %v", err)
	}
	if err := d.CommitUpload(ctx, id, dg, int64(len(data))); err != nil {
		t.Fatalf("CommitUpload = %v", err)
	}
	wantSize(t, d, dg, int64(len(data)))
	if !bytes.Equal(readBlob(t, d, dg, 0), data) {
		t.Fatal("Open returned different bytes")
	}
	wantNoUpload(t, d, id)
	if err := d.Delete(ctx, dg); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	_, err := d.Stat(ctx, dg)
	wantErr(t, "Stat after Delete", err, blob.ErrNotFound)
	_, err = d.Open(ctx, dg, 0)
	wantErr(t, "Open after Delete", err, blob.ErrNotFound)
	wantErr(t, "second Delete", d.Delete(ctx, dg), blob.ErrNotFound)
}

func testSHA512(t *testing.T, d blob.Driver) {
	data := randomBytes(t, 1000)
	dg := digest.SHA512.FromBytes(data)
	id := upload(t, d, data)
	if err := d.CommitUpload(t.Context(), id, dg, int64(len(data))); err != nil {
		t.Fatalf("CommitUpload(sha512) = %v", err)
	}
	wantSize(t, d, dg, 1000)
	if !bytes.Equal(readBlob(t, d, dg, 0), data) {
		t.Fatal("sha512 blob content differs")
	}
	// The same bytes under sha256 are a different blob.
	_, err := d.Stat(t.Context(), digest.FromBytes(data))
	wantErr(t, "Stat of the sha256 twin", err, blob.ErrNotFound)
}

func testEmptyBlob(t *testing.T, d blob.Driver) {
	dg := put(t, d, nil)
	wantSize(t, d, dg, 0)
	if got := readBlob(t, d, dg, 0); len(got) != 0 {
		t.Fatalf("empty blob read %d bytes", len(got))
	}
}

func testNotFound(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	dg := digest.FromString("never stored")
	_, err := d.Stat(ctx, dg)
	wantErr(t, "Stat", err, blob.ErrNotFound)
	_, err = d.Open(ctx, dg, 0)
	wantErr(t, "Open", err, blob.ErrNotFound)
	wantErr(t, "Delete", d.Delete(ctx, dg), blob.ErrNotFound)

	id := newID(t)
	_, err = d.UploadSize(ctx, id)
	wantErr(t, "UploadSize", err, blob.ErrNotFound)
	_, err = d.OpenUpload(ctx, id)
	wantErr(t, "OpenUpload", err, blob.ErrNotFound)
	wantErr(t, "DeleteUpload", d.DeleteUpload(ctx, id), blob.ErrNotFound)
	wantErr(t, "CommitUpload", d.CommitUpload(ctx, id, dg, 0), blob.ErrNotFound)
	// Only an append at offset 0 creates an upload.
	n, err := d.AppendUpload(ctx, id, 5, strings.NewReader("x"))
	wantErr(t, "AppendUpload at 5 to a missing upload", err, blob.ErrNotFound)
	if n != 0 {
		t.Errorf("AppendUpload to a missing upload wrote %d bytes", n)
	}
	_, err = d.UploadSize(ctx, id)
	wantErr(t, "UploadSize after failed append", err, blob.ErrNotFound)
}

// invalidDigests are rejected by every driver method taking a digest. Some
// would escape a naive path layout.
var invalidDigests = []digest.Digest{
	"",
	"sha256",
	"sha256:",
	"sha256:abc",
	"sha256:" + digest.Digest(strings.Repeat("A", 64)),
	"sha256:" + digest.Digest(strings.Repeat("a", 65)),
	"sha256:../../../../../../../../../../../../../../../../../../../../../etc/passwd",
	"sha256:" + digest.Digest(strings.Repeat("a", 62)) + "/.",
	"sha256:" + digest.Digest(strings.Repeat("a", 31)) + "/" + digest.Digest(strings.Repeat("a", 32)),
	"sha384:" + digest.Digest(strings.Repeat("a", 96)),
	"md5:" + digest.Digest(strings.Repeat("a", 32)),
	"../sha256:" + digest.Digest(strings.Repeat("a", 64)),
	"sha512:" + digest.Digest(strings.Repeat("a", 64)),
}

func testInvalidDigest(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	data := []byte("victim")
	victim := put(t, d, data)
	id := upload(t, d, data)
	for _, dg := range invalidDigests {
		_, err := d.Stat(ctx, dg)
		wantErr(t, fmt.Sprintf("Stat(%q)", dg), err, blob.ErrInvalidDigest)
		_, err = d.Open(ctx, dg, 0)
		wantErr(t, fmt.Sprintf("Open(%q)", dg), err, blob.ErrInvalidDigest)
		wantErr(t, fmt.Sprintf("Delete(%q)", dg), d.Delete(ctx, dg), blob.ErrInvalidDigest)
		wantErr(t, fmt.Sprintf("CommitUpload(%q)", dg), d.CommitUpload(ctx, id, dg, int64(len(data))), blob.ErrInvalidDigest)
	}
	// Nothing was touched: the upload is intact and the blob still there.
	if got := readUpload(t, d, id); !bytes.Equal(got, data) {
		t.Fatalf("upload changed after invalid commits: %q", got)
	}
	wantSize(t, d, victim, int64(len(data)))
}

// invalidUploadIDs are rejected by every upload method.
var invalidUploadIDs = []string{
	"",
	".",
	"..",
	"../x",
	"a/b",
	"a\\b",
	"a b",
	"a\x00b",
	"a.b",
	"é",
	strings.Repeat("a", blob.MaxUploadIDLength+1),
}

func testInvalidUploadID(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	data := []byte("victim upload")
	victim := upload(t, d, data)
	dg := digest.FromBytes(data)
	ids := append(slices.Clone(invalidUploadIDs), "../"+victim, victim+"/..", "./"+victim, victim+"/data")
	for _, id := range ids {
		n, err := d.AppendUpload(ctx, id, 0, strings.NewReader("x"))
		wantErr(t, fmt.Sprintf("AppendUpload(%q)", id), err, blob.ErrInvalidUploadID)
		if n != 0 {
			t.Errorf("AppendUpload(%q) wrote %d bytes", id, n)
		}
		_, err = d.UploadSize(ctx, id)
		wantErr(t, fmt.Sprintf("UploadSize(%q)", id), err, blob.ErrInvalidUploadID)
		_, err = d.OpenUpload(ctx, id)
		wantErr(t, fmt.Sprintf("OpenUpload(%q)", id), err, blob.ErrInvalidUploadID)
		wantErr(t, fmt.Sprintf("CommitUpload(%q)", id), d.CommitUpload(ctx, id, dg, int64(len(data))), blob.ErrInvalidUploadID)
		wantErr(t, fmt.Sprintf("DeleteUpload(%q)", id), d.DeleteUpload(ctx, id), blob.ErrInvalidUploadID)
	}
	if got := readUpload(t, d, victim); !bytes.Equal(got, data) {
		t.Fatalf("victim upload changed: %q", got)
	}
	_, err := d.Stat(ctx, dg)
	wantErr(t, "Stat after rejected commits", err, blob.ErrNotFound)
	// Upper case, digits, '-' and '_' are all fine.
	valid := "Ab0-_" + strings.Repeat("z", blob.MaxUploadIDLength-5)
	if _, err := d.AppendUpload(ctx, valid, 0, strings.NewReader("ok")); err != nil {
		t.Fatalf("AppendUpload(%q) = %v", valid, err)
	}
}

func testAppendOffsets(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	id := upload(t, d, []byte("hello"))
	for _, off := range []int64{-1, 0, 4, 6, 1 << 40} {
		n, err := d.AppendUpload(ctx, id, off, strings.NewReader("XX"))
		wantErr(t, fmt.Sprintf("AppendUpload at %d", off), err, blob.ErrOffsetMismatch)
		if n != 0 {
			t.Errorf("AppendUpload at %d wrote %d bytes", off, n)
		}
	}
	if got := readUpload(t, d, id); string(got) != "hello" {
		t.Fatalf("upload = %q after rejected appends, want hello", got)
	}
	if n, err := d.AppendUpload(ctx, id, 5, strings.NewReader(" world")); err != nil || n != 6 {
		t.Fatalf("AppendUpload at 5 = %d, %v", n, err)
	}
	// An empty append is a no-op, not an error.
	if n, err := d.AppendUpload(ctx, id, 11, strings.NewReader("")); err != nil || n != 0 {
		t.Fatalf("empty AppendUpload = %d, %v", n, err)
	}
	if got := readUpload(t, d, id); string(got) != "hello world" {
		t.Fatalf("upload = %q", got)
	}
}

// failingReader yields data and then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func testAppendReaderError(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	id := upload(t, d, []byte("abc"))
	boom := errors.New("connection reset")
	n, err := d.AppendUpload(ctx, id, 3, &failingReader{data: []byte("defgh"), err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("AppendUpload with failing reader: error = %v, want it to wrap the reader's", err)
	}
	if n != 5 {
		t.Fatalf("AppendUpload with failing reader = %d bytes, want 5", n)
	}
	if size, err := d.UploadSize(ctx, id); err != nil || size != 8 {
		t.Fatalf("UploadSize = %d, %v; want 8: received bytes must stay", size, err)
	}
	if _, err := d.AppendUpload(ctx, id, 8, strings.NewReader("ij")); err != nil {
		t.Fatalf("resume at 8: %v", err)
	}
	if got := readUpload(t, d, id); string(got) != "abcdefghij" {
		t.Fatalf("upload = %q", got)
	}
}

func testAppendCanceled(t *testing.T, d blob.Driver) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	id := newID(t)
	n, err := d.AppendUpload(ctx, id, 0, strings.NewReader("data"))
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("AppendUpload with canceled context = %d, %v", n, err)
	}
	// Cancellation midway keeps what was written, like a reader error.
	ctx, cancel = context.WithCancel(t.Context())
	id = upload(t, d, []byte("0123"))
	r := &cancelingReader{data: []byte("4567"), cancel: cancel}
	n, err = d.AppendUpload(ctx, id, 4, r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("AppendUpload canceled midway: error = %v", err)
	}
	if n != 4 {
		t.Fatalf("AppendUpload canceled midway = %d bytes, want the 4 it received", n)
	}
	if size, err := d.UploadSize(t.Context(), id); err != nil || size != 8 {
		t.Fatalf("UploadSize = %d, %v; want 8", size, err)
	}
}

// cancelingReader yields its data, cancels the context, and then fails like
// the body of a canceled HTTP request.
type cancelingReader struct {
	data   []byte
	cancel context.CancelFunc
}

func (r *cancelingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, context.Canceled
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		r.cancel()
	}
	return n, nil
}

func testOpenOffsets(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	data := randomBytes(t, 100_000)
	dg := put(t, d, data)
	for _, off := range []int64{0, 1, 4095, 4096, 65537, 99_999, 100_000} {
		if got := readBlob(t, d, dg, off); !bytes.Equal(got, data[off:]) {
			t.Errorf("Open at %d: read %d bytes, want %d matching", off, len(got), len(data)-int(off))
		}
	}
	for _, off := range []int64{-1, 100_001, 1 << 50} {
		rc, err := d.Open(ctx, dg, off)
		if err == nil {
			rc.Close()
		}
		wantErr(t, fmt.Sprintf("Open at %d", off), err, blob.ErrOffsetMismatch)
	}
}

func testCommitSizeMismatch(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	data := []byte("twelve bytes")
	dg := digest.FromBytes(data)
	id := upload(t, d, data)
	for _, size := range []int64{-1, 0, 11, 13} {
		wantErr(t, fmt.Sprintf("CommitUpload size %d", size), d.CommitUpload(ctx, id, dg, size), blob.ErrSizeMismatch)
	}
	_, err := d.Stat(ctx, dg)
	wantErr(t, "Stat after failed commits", err, blob.ErrNotFound)
	// Nothing lost: the upload can still be committed.
	if got := readUpload(t, d, id); !bytes.Equal(got, data) {
		t.Fatalf("upload changed: %q", got)
	}
	if err := d.CommitUpload(ctx, id, dg, 12); err != nil {
		t.Fatalf("CommitUpload after mismatch = %v", err)
	}
	wantSize(t, d, dg, 12)
}

func testCommitIdempotent(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	data := randomBytes(t, 4096)
	dg := put(t, d, data)
	rc, err := d.Open(ctx, dg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	second := upload(t, d, data)
	if err := d.CommitUpload(ctx, second, dg, int64(len(data))); err != nil {
		t.Fatalf("second CommitUpload of identical content = %v", err)
	}
	wantNoUpload(t, d, second)
	wantSize(t, d, dg, int64(len(data)))
	if !bytes.Equal(readBlob(t, d, dg, 0), data) {
		t.Fatal("content changed after second commit")
	}
	// A reader opened before the second commit still reads the content.
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reader opened before second commit: %d bytes, %v", len(got), err)
	}
}

func testConcurrentCommitSameContent(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	data := randomBytes(t, 256<<10)
	dg := digest.FromBytes(data)
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = newID(t)
		wg.Go(func() {
			// Two chunks, so appends interleave with other uploads' commits.
			half := len(data) / 2
			if _, err := d.AppendUpload(ctx, ids[i], 0, bytes.NewReader(data[:half])); err != nil {
				errs[i] = err
				return
			}
			if _, err := d.AppendUpload(ctx, ids[i], int64(half), bytes.NewReader(data[half:])); err != nil {
				errs[i] = err
				return
			}
			errs[i] = d.CommitUpload(ctx, ids[i], dg, int64(len(data)))
		})
	}
	// Readers race the commits: they see either nothing or the whole blob.
	for range 4 {
		wg.Go(func() {
			for range 20 {
				rc, err := d.Open(ctx, dg, 0)
				if errors.Is(err, blob.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Errorf("Open during commits: %v", err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("read during commits: %d bytes, %v", len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
		wantNoUpload(t, d, ids[i])
	}
	wantSize(t, d, dg, int64(len(data)))
	if !bytes.Equal(readBlob(t, d, dg, 0), data) {
		t.Fatal("content differs after concurrent commits")
	}
}

func testConcurrentReads(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	data := randomBytes(t, 512<<10)
	dg := put(t, d, data)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			off := int64(i * 32768)
			rc, err := d.Open(ctx, dg, off)
			if err != nil {
				t.Errorf("Open at %d: %v", off, err)
				return
			}
			defer rc.Close()
			// Small reads interleave the streams.
			var got bytes.Buffer
			buf := make([]byte, 1000+i)
			if _, err := io.CopyBuffer(&got, struct{ io.Reader }{rc}, buf); err != nil {
				t.Errorf("read at %d: %v", off, err)
				return
			}
			if !bytes.Equal(got.Bytes(), data[off:]) {
				t.Errorf("reader at %d got different bytes", off)
			}
		})
	}
	wg.Wait()
}

// gateReader signals when it is first read and then blocks until released.
type gateReader struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	data    []byte
}

func (r *gateReader) Read(p []byte) (int, error) {
	r.once.Do(func() {
		close(r.entered)
		<-r.release
	})
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func testConcurrentAppendSameUpload(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	id := upload(t, d, []byte("base:"))
	gate := &gateReader{entered: make(chan struct{}), release: make(chan struct{}), data: []byte("first")}
	done := make(chan error, 1)
	go func() {
		_, err := d.AppendUpload(ctx, id, 5, gate)
		done <- err
	}()
	<-gate.entered
	// The first append is in progress at offset 5: a second append at the
	// same offset, or a commit, must not interleave with it.
	n, err := d.AppendUpload(ctx, id, 5, strings.NewReader("second"))
	if !errors.Is(err, blob.ErrUploadBusy) && !errors.Is(err, blob.ErrOffsetMismatch) {
		t.Errorf("concurrent AppendUpload: error = %v, want ErrUploadBusy or ErrOffsetMismatch", err)
	}
	if n != 0 {
		t.Errorf("concurrent AppendUpload wrote %d bytes", n)
	}
	err = d.CommitUpload(ctx, id, digest.FromString("base:first"), 10)
	if !errors.Is(err, blob.ErrUploadBusy) && !errors.Is(err, blob.ErrSizeMismatch) {
		t.Errorf("CommitUpload during AppendUpload: error = %v, want ErrUploadBusy or ErrSizeMismatch", err)
	}
	close(gate.release)
	if err := <-done; err != nil {
		t.Fatalf("first AppendUpload = %v", err)
	}
	if got := readUpload(t, d, id); string(got) != "base:first" {
		t.Fatalf("upload = %q, want base:first", got)
	}
}

func testNoLeftovers(t *testing.T, d blob.Driver) {
	ctx := t.Context()
	kept := put(t, d, []byte("kept"))
	deleted := put(t, d, []byte("deleted"))
	if err := d.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	aborted := upload(t, d, []byte("aborted"))
	if err := d.DeleteUpload(ctx, aborted); err != nil {
		t.Fatalf("DeleteUpload = %v", err)
	}
	wantNoUpload(t, d, aborted)
	_, err := d.OpenUpload(ctx, aborted)
	wantErr(t, "OpenUpload after DeleteUpload", err, blob.ErrNotFound)
	// The ID can be reused from scratch.
	if _, err := d.AppendUpload(ctx, aborted, 0, strings.NewReader("again")); err != nil {
		t.Fatalf("reuse of a deleted upload ID: %v", err)
	}
	if got := readUpload(t, d, aborted); string(got) != "again" {
		t.Fatalf("reused upload = %q", got)
	}
	// A failed commit leaves no blob.
	failed := upload(t, d, []byte("failed"))
	_ = d.CommitUpload(ctx, failed, digest.FromString("failed"), 99)

	w, ok := d.(blob.Walker)
	if !ok {
		return
	}
	got := map[digest.Digest]int64{}
	err = w.WalkBlobs(ctx, func(dg digest.Digest, size int64) error {
		got[dg] = size
		return nil
	})
	if err != nil {
		t.Fatalf("WalkBlobs = %v", err)
	}
	want := map[digest.Digest]int64{kept: 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("WalkBlobs found %v, want %v", got, want)
	}
}

func testWalk(t *testing.T, d blob.Driver) {
	w, ok := d.(blob.Walker)
	if !ok {
		t.Log("driver does not implement the optional blob.Walker")
		return
	}
	ctx := t.Context()
	want := map[digest.Digest]int64{}
	for i := range 20 {
		data := randomBytes(t, i)
		want[put(t, d, data)] = int64(i)
	}
	data := randomBytes(t, 7)
	id := upload(t, d, data)
	dg512 := digest.SHA512.FromBytes(data)
	if err := d.CommitUpload(ctx, id, dg512, 7); err != nil {
		t.Fatal(err)
	}
	want[dg512] = 7
	upload(t, d, []byte("uncommitted")) // must not be listed
	got := map[digest.Digest]int64{}
	err := w.WalkBlobs(ctx, func(dg digest.Digest, size int64) error {
		if _, dup := got[dg]; dup {
			t.Errorf("WalkBlobs visited %s twice", dg)
		}
		got[dg] = size
		return nil
	})
	if err != nil {
		t.Fatalf("WalkBlobs = %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("WalkBlobs found %d blobs %v, want %d %v", len(got), got, len(want), want)
	}
	stop := errors.New("stop")
	calls := 0
	err = w.WalkBlobs(ctx, func(digest.Digest, int64) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("WalkBlobs with failing fn = %v after %d calls, want stop after 1", err, calls)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	err = w.WalkBlobs(canceled, func(digest.Digest, int64) error { return nil })
	wantErr(t, "WalkBlobs with canceled context", err, context.Canceled)
}
