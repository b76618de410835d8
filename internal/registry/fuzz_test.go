package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/moat-dev/moat/internal/registry"
	"github.com/opencontainers/go-digest"
)

// FuzzChunkedUpload splits content into chunks at fuzzed points, sends
// some of them at wrong offsets, and finishes with sha256 or sha512. Wrong
// offsets must be refused without changing the session; the finished blob
// must be exactly the content.
func FuzzChunkedUpload(f *testing.F) {
	f.Add([]byte("hello, world"), []byte{3, 7}, uint8(0), false)
	f.Add(bytes.Repeat([]byte{0xAB}, 300), []byte{100, 1, 250}, uint8(1), true)
	f.Add([]byte{}, []byte{}, uint8(0), true)
	e := newEnv(f, engines[0])
	ctx := context.Background()
	n := 0
	f.Fuzz(func(t *testing.T, content, cuts []byte, badEvery uint8, sha512 bool) {
		n++
		repo := fmt.Sprintf("fuzz/r%d", n)
		up, err := e.reg.StartUpload(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		var offset int64
		for i, c := range append(cuts, 0xFF) {
			end := min(offset+int64(c), int64(len(content)))
			if i == len(cuts) {
				end = int64(len(content))
			}
			chunk := content[offset:end]
			if badEvery > 0 && i%int(badEvery) == 0 {
				bad := offset + 1 + int64(c)
				_, err := e.reg.AppendUpload(ctx, repo, up.ID, registry.Chunk{Start: bad, Length: int64(len(chunk)), Body: bytes.NewReader(chunk)})
				var re *registry.RangeError
				if !errors.As(err, &re) || re.Offset != offset {
					t.Fatalf("chunk at %d when holding %d: %v", bad, offset, err)
				}
			}
			got, err := e.reg.AppendUpload(ctx, repo, up.ID, registry.Chunk{Start: offset, Length: int64(len(chunk)), Body: bytes.NewReader(chunk)})
			if err != nil {
				t.Fatal(err)
			}
			offset = end
			if got.Offset != offset {
				t.Fatalf("offset %d, want %d", got.Offset, offset)
			}
		}
		d := digest.FromBytes(content)
		if sha512 {
			d = digest.SHA512.FromBytes(content)
		}
		if _, err := e.reg.FinishUpload(ctx, repo, up.ID, d, nil); err != nil {
			t.Fatal(err)
		}
		if got := readBlob(t, e.reg, repo, d); !bytes.Equal(got, content) {
			t.Fatal("content differs")
		}
	})
}
