package audit

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store whose Append takes a while, as a commit
// does, and can be told to fail.
type memStore struct {
	mu    sync.Mutex
	recs  []Record
	txns  int
	delay time.Duration
	fail  error
}

func (m *memStore) Append(_ context.Context, build func(Head) ([]Record, error)) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	time.Sleep(m.delay)
	m.txns++
	if m.fail != nil {
		return nil, m.fail
	}
	var h Head
	if n := len(m.recs); n > 0 {
		h = Head{Seq: m.recs[n-1].Seq, Hash: m.recs[n-1].Hash}
	}
	rs, err := build(h)
	if err != nil {
		return nil, err
	}
	m.recs = append(m.recs, rs...)
	return rs, nil
}

func (m *memStore) Head(context.Context) (Head, error) { return Head{}, errors.New("unused") }
func (m *memStore) Scan(context.Context, int64, int) ([]Record, error) {
	return nil, errors.New("unused")
}
func (m *memStore) Query(context.Context, Filter) ([]Record, error) { return nil, errors.New("unused") }

// TestConcurrentAppendsShareCommits: 200 concurrent appends each get their
// own record back, the records form one chain, and they took far fewer
// transactions than records.
func TestConcurrentAppendsShareCommits(t *testing.T) {
	st := &memStore{delay: 2 * time.Millisecond}
	l, err := New(st)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	got := make([]Record, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := l.Append(context.Background(), Entry{Actor: "user:a", Action: "registry:Pull", Resource: string(rune('a' + i%26)), Result: ResultSuccess})
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	if len(st.recs) != n {
		t.Fatalf("%d records stored, want %d", len(st.recs), n)
	}
	seen := map[int64]bool{}
	for _, r := range got {
		if r.Seq < 1 || r.Seq > n || seen[r.Seq] || !bytes.Equal(st.recs[r.Seq-1].Hash, r.Hash) {
			t.Fatalf("caller got record %d (dup %v), not the one stored", r.Seq, seen[r.Seq])
		}
		seen[r.Seq] = true
	}
	prev := Genesis()
	for i, r := range st.recs {
		if r.Seq != int64(i+1) || !bytes.Equal(r.PrevHash, prev) || !bytes.Equal(r.Hash, r.ComputeHash()) {
			t.Fatalf("record %d breaks the chain", i+1)
		}
		prev = r.Hash
	}
	if st.txns > n/4 {
		t.Errorf("%d transactions for %d concurrent records: not batched", st.txns, n)
	}
	t.Logf("%d records in %d transactions", n, st.txns)
}

// TestBatchFailureReachesEveryCaller: a failed commit fails each append
// of its batch; the log goes on working afterwards.
func TestBatchFailureReachesEveryCaller(t *testing.T) {
	boom := errors.New("disk full")
	st := &memStore{delay: time.Millisecond, fail: boom}
	l, _ := New(st)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := l.Append(context.Background(), Entry{Actor: "a", Action: "b", Result: ResultSuccess}); !errors.Is(err, boom) {
				t.Errorf("err = %v, want %v", err, boom)
			}
		})
	}
	wg.Wait()
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	if r, err := l.Append(context.Background(), Entry{Actor: "a", Action: "b", Result: ResultSuccess}); err != nil || r.Seq != 1 {
		t.Fatalf("after the failure: %+v %v", r, err)
	}
}

// TestCanceledLeaderKeepsOthers: the caller whose context ends while it
// writes a batch does not take the other callers' records down with it.
func TestCanceledLeaderKeepsOthers(t *testing.T) {
	st := &memStore{delay: 20 * time.Millisecond}
	l, _ := New(st)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := l.Append(ctx, Entry{Actor: "leader", Action: "x", Result: ResultSuccess}); err != nil {
			t.Errorf("leader: %v", err)
		}
	})
	time.Sleep(5 * time.Millisecond) // the leader is writing
	for range 5 {
		wg.Go(func() {
			if _, err := l.Append(context.Background(), Entry{Actor: "other", Action: "x", Result: ResultSuccess}); err != nil {
				t.Errorf("other: %v", err)
			}
		})
	}
	cancel()
	wg.Wait()
	if len(st.recs) != 6 {
		t.Errorf("%d records, want 6", len(st.recs))
	}
}
