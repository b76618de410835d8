package checkpoint_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/checkpoint"
	"github.com/moat-dev/moat/internal/audit/checkpoint/dirstore"
	"github.com/moat-dev/moat/internal/audit/sqlaudit"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

func newSigner(t *testing.T) *checkpoint.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := checkpoint.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignVerify(t *testing.T) {
	s := newSigner(t)
	head := audit.Head{Seq: 42, Hash: bytes.Repeat([]byte{7}, 32)}
	c := s.Sign(head, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := checkpoint.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(s.Public()); err != nil || back.Seq != 42 || !bytes.Equal(back.Hash, head.Hash) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for name, edit := range map[string]func(c *checkpoint.Signed){
		"seq":  func(c *checkpoint.Signed) { c.Seq++ },
		"hash": func(c *checkpoint.Signed) { c.Hash = bytes.Repeat([]byte{8}, 32) },
		"time": func(c *checkpoint.Signed) { c.Time = c.Time.Add(time.Second) },
		"sig":  func(c *checkpoint.Signed) { c.Signature = bytes.Repeat([]byte{1}, ed25519.SignatureSize) },
	} {
		bad := back
		bad.Hash = bytes.Clone(back.Hash)
		edit(&bad)
		if err := bad.Verify(s.Public()); !errors.Is(err, checkpoint.ErrBadSignature) || !errors.Is(err, audit.ErrTampered) {
			t.Errorf("edited %s: %v", name, err)
		}
	}
	if err := back.Verify(newSigner(t).Public()); !errors.Is(err, checkpoint.ErrUnverifiable) {
		t.Errorf("other key: %v", err)
	}
	for _, in := range []string{`{}`, `{"version":2}`, `not json`, `{"version":1,"seq":1,"hash":"00","time":"x","key_id":"k","signature":""}`} {
		if _, err := checkpoint.Parse([]byte(in)); !errors.Is(err, checkpoint.ErrMalformed) {
			t.Errorf("Parse(%s): %v", in, err)
		}
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "audit-checkpoint.key")
	k1, err := checkpoint.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", fi.Mode(), err)
	}
	k2, err := checkpoint.LoadOrCreateKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second load gave another key: %v", err)
	}
	pub, err := checkpoint.ParsePublicKey(checkpoint.MarshalPublicKey(k1.Public().(ed25519.PublicKey)))
	if err != nil || !pub.Equal(k1.Public()) {
		t.Fatalf("public key round trip: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.LoadKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("readable key accepted: %v", err)
	}
	if _, err := checkpoint.ParsePublicKey([]byte("junk")); err == nil {
		t.Error("junk public key accepted")
	}
}

// Storage-backed tests run on both engines.
type engine struct {
	name string
	dsn  func(t *testing.T) string
}

var engines = []engine{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "moat.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
}

// chain is an audit log on a fresh database, with a checkpoint writer
// and its directory store.
type chain struct {
	db     *sqldb.DB
	store  *sqlaudit.Store
	log    *audit.Log
	signer *checkpoint.Signer
	cps    *dirstore.Store
	cpsDir string
	w      *checkpoint.Writer
}

func newChain(t *testing.T, dsn string, opts ...checkpoint.WriterOption) *chain {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &chain{db: db, signer: newSigner(t), cpsDir: filepath.Join(t.TempDir(), "audit-checkpoints")}
	if c.store, err = sqlaudit.New(ctx, db); err != nil {
		t.Fatal(err)
	}
	if c.cps, err = dirstore.New(c.cpsDir, dirstore.DefaultKeep); err != nil {
		t.Fatal(err)
	}
	if c.w, err = checkpoint.NewWriter(c.store, c.signer, c.cps, opts...); err != nil {
		t.Fatal(err)
	}
	if c.log, err = audit.New(c.store, audit.WithCommitHook(c.w.Committed)); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *chain) fill(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.log.Append(context.Background(), audit.Op{Actor: "user:alice", Action: "registry:Pull",
			Resource: fmt.Sprintf("repository/r%d", i), Details: map[string]any{"n": i}}.Entry()); err != nil {
			t.Fatal(err)
		}
	}
}

func (c *chain) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := c.db.W.ExecContext(context.Background(), c.db.Q(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// setHead points audit_head at record seq, as someone covering up a
// truncation would.
func (c *chain) setHead(t *testing.T, seq int64) {
	t.Helper()
	r, ok, err := audit.RecordAt(context.Background(), c.store, seq)
	if err != nil || !ok {
		t.Fatalf("record %d: %v", seq, err)
	}
	c.exec(t, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, r.Seq, r.Hash)
}

// rehashFrom recomputes every record from seq on and the head, after an
// edit: a chain consistent in itself.
func (c *chain) rehashFrom(t *testing.T, seq int64) {
	t.Helper()
	ctx := context.Background()
	prev, ok, err := audit.RecordAt(ctx, c.store, seq-1)
	if err != nil || !ok {
		t.Fatal(err)
	}
	recs, err := c.store.Scan(ctx, seq-1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.PrevHash = prev.Hash
		r.Hash = r.ComputeHash()
		c.exec(t, `UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?`, r.PrevHash, r.Hash, r.Seq)
		prev = r
	}
	c.exec(t, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, prev.Seq, prev.Hash)
}

// TestCheckpointDetectsTampering: after a checkpoint, a chain cut at the
// end with its head rewritten, or edited and rehashed, still passes the
// chain's own verification (as it did before checkpoints) but fails
// against the checkpoint, naming it; and no new checkpoint is signed
// over it. On SQLite and PostgreSQL.
func TestCheckpointDetectsTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, c *chain)
		reason string
	}{
		{"truncate the tail and rewrite the head", func(t *testing.T, c *chain) {
			c.exec(t, `DELETE FROM audit_log WHERE seq > 17`)
			c.setHead(t, 17)
		}, "record 20 is missing: the chain ends at 17"},
		{"truncate, then new records past the checkpoint", func(t *testing.T, c *chain) {
			c.exec(t, `DELETE FROM audit_log WHERE seq > 17`)
			c.setHead(t, 17)
			c.fill(t, 8)
		}, "record 20's hash differs"},
		{"edit before the checkpoint and rehash", func(t *testing.T, c *chain) {
			c.exec(t, `UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 5`)
			c.rehashFrom(t, 5)
		}, "record 20's hash differs"},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					c := newChain(t, e.dsn(t))
					c.fill(t, 20)
					cp, err := c.w.Write(ctx)
					if err != nil || cp == nil || cp.Seq != 20 {
						t.Fatalf("checkpoint: %+v %v", cp, err)
					}
					c.fill(t, 3)
					if _, err := checkpoint.Verify(ctx, c.store, c.cps, c.signer.Public()); err != nil {
						t.Fatalf("untouched chain: %v", err)
					}
					tc.tamper(t, c)
					if _, err := c.log.Verify(ctx); err != nil {
						t.Fatalf("the chain itself should look intact (that is the gap): %v", err)
					}
					_, err = checkpoint.Verify(ctx, c.store, c.cps, c.signer.Public())
					var me *checkpoint.MismatchError
					if !errors.As(err, &me) || !errors.Is(err, audit.ErrTampered) || me.Checkpoint.Seq != 20 || !strings.Contains(me.Reason, tc.reason) {
						t.Fatalf("verify after tampering: %v, want checkpoint 20: %s", err, tc.reason)
					}
					if cp, err := c.w.Write(ctx); err == nil || cp != nil || !errors.Is(err, audit.ErrTampered) {
						t.Errorf("a new checkpoint was signed over the tampered chain: %+v %v", cp, err)
					}
				})
			}
		})
	}
}

// TestCheckpointStoreTampering: an edited or unparsable newest checkpoint
// is a bad signature; an unreadable store cannot be verified; no
// checkpoint at all checks the chain only.
func TestCheckpointStoreTampering(t *testing.T) {
	ctx := context.Background()
	c := newChain(t, filepath.Join(t.TempDir(), "moat.db"))
	if res, err := checkpoint.Verify(ctx, c.store, c.cps, c.signer.Public()); err != nil || res.Checkpoint != nil {
		t.Fatalf("no checkpoint yet: %+v %v", res, err)
	}
	if cp, err := c.w.Write(ctx); err != nil || cp != nil {
		t.Fatalf("checkpoint of an empty chain: %+v %v", cp, err)
	}
	c.fill(t, 5)
	cp, err := c.w.Write(ctx)
	if err != nil || cp == nil {
		t.Fatal(err)
	}
	if again, err := c.w.Write(ctx); err != nil || again != nil {
		t.Errorf("a second checkpoint of an unmoved head: %+v %v", again, err)
	}
	file := filepath.Join(c.cpsDir, fmt.Sprintf("%020d.json", cp.Seq))
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	forged := *cp
	forged.Time = forged.Time.Add(-time.Hour)
	b, _ := json.Marshal(forged)
	for name, content := range map[string][]byte{"edited": b, "garbage": []byte("{")} {
		if err := os.WriteFile(file, content, 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := checkpoint.Verify(ctx, c.store, c.cps, c.signer.Public()); !errors.Is(err, checkpoint.ErrBadSignature) {
			t.Errorf("%s checkpoint: %v", name, err)
		}
		if _, err := c.w.Write(ctx); err == nil {
			t.Errorf("%s checkpoint: the writer signed on", name)
		}
	}
	if err := os.WriteFile(file, orig, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Verify(ctx, c.store, c.cps, c.signer.Public()); err != nil {
		t.Errorf("restored checkpoint: %v", err)
	}
}

// recordingSink remembers what was published.
type recordingSink struct {
	mu   sync.Mutex
	seqs []int64
}

func (s *recordingSink) Publish(_ context.Context, c checkpoint.Signed) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seqs = append(s.seqs, c.Seq)
	return nil
}

func (s *recordingSink) got() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.seqs...)
}

type failingSink struct{}

func (failingSink) Publish(context.Context, checkpoint.Signed) error { return errors.New("down") }

// TestWriterSchedule: a checkpoint follows every N records (counted
// through the commit hook), reaches every sink (a failing one does not
// stop the others), and Close writes the last.
func TestWriterSchedule(t *testing.T) {
	ctx := context.Background()
	sink := &recordingSink{}
	c := newChain(t, filepath.Join(t.TempDir(), "moat.db"), checkpoint.WithInterval(time.Hour), checkpoint.WithRecords(10),
		checkpoint.WithSinks(failingSink{}, sink))
	c.w.Start()
	c.fill(t, 10)
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sink.got(); len(got) != 1 || got[0] != 10 {
		t.Fatalf("after 10 records: checkpoints %v", got)
	}
	c.fill(t, 4) // fewer than 10: no checkpoint until Close
	time.Sleep(50 * time.Millisecond)
	if err := c.w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sink.got(); len(got) != 2 || got[1] != 14 {
		t.Fatalf("after Close: checkpoints %v", got)
	}
	if latest, err := c.cps.Latest(ctx); err != nil || latest.Seq != 14 {
		t.Errorf("stored: %+v %v", latest, err)
	}
}
