package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/audit"
)

// writeTimeout bounds one checkpoint: its reads, storing and publishing.
// minGap spaces background checkpoints, so a burst of records (a pull
// benchmark) cannot turn the count trigger into a stream of writes.
const (
	writeTimeout = 2 * time.Minute
	minGap       = time.Second
)

// Writer signs and writes checkpoints of the chain's head: every
// Interval, after Records new records, and on Close.
type Writer struct {
	chain    audit.Store
	signer   *Signer
	store    Store
	sinks    []Sink
	interval time.Duration
	records  int64
	now      func() time.Time
	log      *slog.Logger

	mu       sync.Mutex   // one Write at a time
	lastSeq  atomic.Int64 // of the newest checkpoint this writer knows
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{} // closed when Start's goroutine ends; nil before Start
	stopOnce sync.Once
}

// WriterOption configures NewWriter.
type WriterOption func(*Writer) error

// WithInterval sets how often a checkpoint is written while records are
// added. Default: one minute.
func WithInterval(d time.Duration) WriterOption {
	return func(w *Writer) error {
		if d <= 0 {
			return fmt.Errorf("interval %v must be positive", d)
		}
		w.interval = d
		return nil
	}
}

// WithRecords writes a checkpoint once n records were added since the
// last (counted through Committed); 0 writes only by interval. Default:
// 1000.
func WithRecords(n int64) WriterOption {
	return func(w *Writer) error {
		if n < 0 {
			return fmt.Errorf("records %d must not be negative", n)
		}
		w.records = n
		return nil
	}
}

// WithSinks also publishes every checkpoint to sinks. A sink's failure
// is logged; the checkpoint stays written. Default: none.
func WithSinks(sinks ...Sink) WriterOption {
	return func(w *Writer) error {
		for _, s := range sinks {
			if s == nil {
				return errors.New("nil sink")
			}
		}
		w.sinks = append(w.sinks, sinks...)
		return nil
	}
}

// WithLogger sets where failed background writes are logged. Default:
// slog.Default().
func WithLogger(l *slog.Logger) WriterOption {
	return func(w *Writer) error {
		if l == nil {
			return errors.New("nil logger")
		}
		w.log = l
		return nil
	}
}

// NewWriter returns a writer of checkpoints of chain, signed by signer
// and kept in store. Start runs it; Close stops it.
func NewWriter(chain audit.Store, signer *Signer, store Store, opts ...WriterOption) (*Writer, error) {
	if chain == nil || signer == nil || store == nil {
		return nil, errors.New("checkpoint: NewWriter needs a chain, a signer and a store")
	}
	w := &Writer{chain: chain, signer: signer, store: store, interval: time.Minute, records: 1000,
		now: time.Now, log: slog.Default(), kick: make(chan struct{}, 1), stop: make(chan struct{})}
	for _, o := range opts {
		if err := o(w); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return w, nil
}

// Committed tells the writer that the chain's head moved to h; give it
// to audit.WithCommitHook. It never blocks.
func (w *Writer) Committed(h audit.Head) {
	if w.records > 0 && h.Seq-w.lastSeq.Load() >= w.records {
		select {
		case w.kick <- struct{}{}:
		default: // a write is due already
		}
	}
}

// Start writes checkpoints in the background until Close. Call it once,
// before Close, from the goroutine that calls Close.
func (w *Writer) Start() {
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			case <-w.kick:
			}
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			if _, err := w.Write(ctx); err != nil {
				w.log.Error("audit checkpoint", "err", err)
			}
			cancel()
			select {
			case <-w.stop:
				return
			case <-time.After(minGap):
			}
		}
	}()
}

// Close stops the background writes (waiting for one in progress) and
// writes a last checkpoint: call it after the audit log's Close, so the
// checkpoint covers the refusal summaries written then.
func (w *Writer) Close(ctx context.Context) error {
	w.stopOnce.Do(func() {
		close(w.stop)
		if w.done != nil {
			<-w.done
		}
	})
	_, err := w.Write(ctx)
	return err
}

// Write signs the chain's head and stores the checkpoint, then publishes
// it to the sinks; it returns the checkpoint, or nil when the head has
// not moved since the newest one. Before signing it checks that the
// chain still holds the newest stored checkpoint's record with the
// signed hash, and that the head names its last record: a chain cut or
// rewritten behind the checkpoints gets no new checkpoint that would
// hide it, and the error says why. That costs a few row reads, not a
// walk of the records since the last checkpoint: Verify walks them.
func (w *Writer) Write(ctx context.Context) (*Signed, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	head, err := w.chain.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read head: %w", err)
	}
	var lastSeq int64
	last, err := w.store.Latest(ctx)
	switch {
	case errors.Is(err, ErrNone):
	case err != nil:
		return nil, fmt.Errorf("checkpoint: read the newest: %w", err)
	default:
		switch err := last.Verify(w.signer.Public()); {
		case errors.Is(err, ErrUnverifiable):
			// Signed by an earlier key: nothing to check it with.
			w.log.Warn("audit checkpoint: the newest one is signed by another key", "seq", last.Seq, "key_id", last.KeyID)
		case err != nil:
			return nil, fmt.Errorf("checkpoint: not signing a new one: %w", err)
		default:
			if err := holds(ctx, w.chain, last.Checkpoint, head); err != nil {
				return nil, fmt.Errorf("checkpoint: not signing a new one: %w", err)
			}
			lastSeq = last.Seq
			w.lastSeq.Store(last.Seq)
		}
	}
	if head.Seq == 0 || head.Seq == lastSeq {
		return nil, nil
	}
	rec, ok, err := audit.RecordAt(ctx, w.chain, head.Seq)
	if err != nil {
		return nil, err
	}
	if !ok || !bytes.Equal(rec.Hash, head.Hash) {
		return nil, fmt.Errorf("checkpoint: not signing: %w", &audit.TamperError{Seq: head.Seq, Reason: "head does not match the last record"})
	}
	s := w.signer.Sign(head, w.now())
	if err := w.store.Publish(ctx, s); err != nil {
		return nil, fmt.Errorf("checkpoint %d: store: %w", s.Seq, err)
	}
	w.lastSeq.Store(s.Seq)
	for _, sink := range w.sinks {
		if err := sink.Publish(ctx, s); err != nil {
			w.log.Error("audit checkpoint: publish", "seq", s.Seq, "err", err)
		}
	}
	return &s, nil
}
