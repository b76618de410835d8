package dirstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/checkpoint"
)

// TestStore: the newest checkpoint is the highest sequence number, not
// the last written; old files are pruned; temp files and strangers are
// ignored; an unreadable newest file is an error, not skipped.
func TestStore(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cps")
	s, err := New(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Latest(ctx); !errors.Is(err, checkpoint.ErrNone) {
		t.Fatalf("empty store: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reading made the directory: %v", err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := checkpoint.NewSigner(key)
	sign := func(seq int64) checkpoint.Signed {
		return signer.Sign(audit.Head{Seq: seq, Hash: bytes.Repeat([]byte{byte(seq)}, 32)}, time.Unix(seq, 0))
	}
	for _, seq := range []int64{5, 9, 7, 12, 3} {
		if err := s.Publish(ctx, sign(seq)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".tmp-123"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	c, err := s.Latest(ctx)
	if err != nil || c.Seq != 12 || c.Verify(signer.Public()) != nil {
		t.Fatalf("latest: %+v %v", c, err)
	}
	seqs, _ := s.seqs()
	if len(seqs) != 3 {
		t.Errorf("kept %v, want 3 files", seqs)
	}
	if err := os.WriteFile(filepath.Join(dir, name(12)), []byte(`{"version":1`), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Latest(ctx); !errors.Is(err, checkpoint.ErrMalformed) {
		t.Errorf("garbled newest: %v", err)
	}
	if err := os.Rename(filepath.Join(dir, name(9)), filepath.Join(dir, name(13))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Latest(ctx); !errors.Is(err, checkpoint.ErrMalformed) {
		t.Errorf("checkpoint 9 filed as 13: %v", err)
	}
}
