package fs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/blob"
)

// FuzzUploads runs random sequences of appends, commits and deletes over a
// few upload sessions and checks every result against a model: offsets are
// enforced, received bytes are kept, commits publish exactly the upload's
// bytes, and failures change nothing.
func FuzzUploads(f *testing.F) {
	f.Add([]byte{0, 0, 5, 1, 0, 5, 2, 0, 0})
	f.Add([]byte{0, 1, 3, 0, 1, 3, 2, 1, 1, 3, 1, 0})
	f.Add([]byte{0, 2, 0, 2, 2, 0, 4, 2, 9, 1, 2, 200, 0, 2, 7})
	f.Add([]byte{0, 0, 8, 0, 1, 8, 2, 0, 0, 2, 1, 0, 5, 0, 0, 6, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		d, err := New(t.TempDir(), WithoutSyncUnsafe())
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		ids := []string{"a", "b", "c"}
		uploads := map[string][]byte{}      // model of live uploads
		blobs := map[digest.Digest][]byte{} // model of committed blobs
		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return b
		}
		for step := 0; len(ops) > 0 && step < 64; step++ {
			op, id := next()%7, ids[int(next())%len(ids)]
			cur, live := uploads[id]
			switch op {
			case 0, 1: // append, at the right offset or one that is off by arg-8
				arg := next()
				data := bytes.Repeat([]byte{arg}, int(arg%37))
				offset := int64(len(cur))
				if op == 1 {
					offset += int64(arg%17) - 8
				}
				n, err := d.AppendUpload(ctx, id, offset, bytes.NewReader(data))
				switch {
				case offset < 0 || (live && offset != int64(len(cur))):
					if !errors.Is(err, blob.ErrOffsetMismatch) || n != 0 {
						t.Fatalf("step %d: append %s at %d (holds %d) = %d, %v", step, id, offset, len(cur), n, err)
					}
				case !live && offset > 0:
					if !errors.Is(err, blob.ErrNotFound) || n != 0 {
						t.Fatalf("step %d: append to missing %s at %d = %d, %v", step, id, offset, n, err)
					}
				default:
					if err != nil || n != int64(len(data)) {
						t.Fatalf("step %d: append %s at %d = %d, %v", step, id, offset, n, err)
					}
					uploads[id] = append(cur, data...)
				}
			case 2: // append from a reader that fails midway
				arg := next()
				data := bytes.Repeat([]byte{arg}, int(arg%11))
				boom := errors.New("boom")
				n, err := d.AppendUpload(ctx, id, int64(len(cur)), &failAfter{data: data, err: boom})
				if !errors.Is(err, boom) || n != int64(len(data)) {
					t.Fatalf("step %d: failing append %s = %d, %v", step, id, n, err)
				}
				uploads[id] = append(cur, data...)
			case 3, 4: // commit with the right size, or a wrong one
				dg := digest.FromBytes(cur)
				size := int64(len(cur))
				if op == 4 {
					size += int64(next()%5) + 1
				}
				err := d.CommitUpload(ctx, id, dg, size)
				switch {
				case !live:
					if !errors.Is(err, blob.ErrNotFound) {
						t.Fatalf("step %d: commit missing %s = %v", step, id, err)
					}
				case op == 4:
					if !errors.Is(err, blob.ErrSizeMismatch) {
						t.Fatalf("step %d: commit %s with size %d = %v", step, id, size, err)
					}
				default:
					if err != nil {
						t.Fatalf("step %d: commit %s = %v", step, id, err)
					}
					blobs[dg] = cur
					delete(uploads, id)
				}
			case 5: // abort
				err := d.DeleteUpload(ctx, id)
				if live != (err == nil) || (!live && !errors.Is(err, blob.ErrNotFound)) {
					t.Fatalf("step %d: delete upload %s (live %v) = %v", step, id, live, err)
				}
				delete(uploads, id)
			case 6: // delete a committed blob, if any
				for dg := range blobs {
					if err := d.Delete(ctx, dg); err != nil {
						t.Fatalf("step %d: delete %s = %v", step, dg, err)
					}
					delete(blobs, dg)
					break
				}
			}
			check(t, d, step, ids, uploads, blobs)
		}
	})
}

// check compares the driver with the model.
func check(t *testing.T, d *Driver, step int, ids []string, uploads map[string][]byte, blobs map[digest.Digest][]byte) {
	t.Helper()
	ctx := t.Context()
	for _, id := range ids {
		want, live := uploads[id]
		size, err := d.UploadSize(ctx, id)
		if !live {
			if !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("step %d: UploadSize(%s) = %d, %v; want not found", step, id, size, err)
			}
			continue
		}
		if err != nil || size != int64(len(want)) {
			t.Fatalf("step %d: UploadSize(%s) = %d, %v; want %d", step, id, size, err, len(want))
		}
		rc, err := d.OpenUpload(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("step %d: upload %s = %x, want %x", step, id, got, want)
		}
	}
	walked := map[digest.Digest]int64{}
	if err := d.WalkBlobs(ctx, func(dg digest.Digest, size int64) error {
		walked[dg] = size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(walked) != len(blobs) {
		t.Fatalf("step %d: %d blobs stored, model has %d", step, len(walked), len(blobs))
	}
	for dg, want := range blobs {
		b, err := os.ReadFile(filepath.Join(d.Root(), "blobs", "sha256", dg.Encoded()[:2], dg.Encoded()))
		if err != nil || !bytes.Equal(b, want) || walked[dg] != int64(len(want)) {
			t.Fatalf("step %d: blob %s = %x, %v", step, dg, b, err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(d.Root(), "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(uploads) {
		t.Fatalf("step %d: %d upload dirs on disk, %d live: %v", step, len(entries), len(uploads), fmt.Sprint(entries))
	}
}

// failAfter yields data, then fails with err.
type failAfter struct {
	data []byte
	err  error
}

func (r *failAfter) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
