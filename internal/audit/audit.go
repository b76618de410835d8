package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"
)

// Results of an audited operation.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultDenied  = "denied"
)

// Errors, classified with errors.Is / errors.As.
var (
	ErrInvalid = errors.New("invalid audit entry")
	// ErrTampered: Verify found the chain broken; the error is a
	// *TamperError.
	ErrTampered = errors.New("audit log tampered")
)

// Entry is what a caller records.
type Entry struct {
	Actor    string // "user:alice", "robot:ci", "anonymous"
	Action   string // "registry:Push", "auth:Login", "policy:Update"...
	Resource string // "repository/team-a/app", "user/bob"...
	SourceIP string
	Result   string // ResultSuccess, ResultFailure or ResultDenied
	// Details is a JSON object with anything else worth keeping
	// (digest, tag, reason); empty for none.
	Details json.RawMessage
}

// Record is a stored entry with its place in the chain.
type Record struct {
	Seq  int64
	Time time.Time
	Entry
	PrevHash []byte
	Hash     []byte
}

// Head is the end of the chain: the last sequence number and its hash.
type Head struct {
	Seq  int64
	Hash []byte
}

// Genesis returns the prev_hash of the first record: 32 zero bytes.
func Genesis() []byte { return make([]byte, sha256.Size) }

// Limits on entry fields. Details beyond maxDetails are truncated (see
// truncateDetails); other fields beyond maxField are rejected by Append
// and cut by Op.Entry.
const (
	maxField   = 1024
	maxDetails = 64 << 10
)

func (e *Entry) normalize() error {
	for name, v := range map[string]string{"actor": e.Actor, "action": e.Action, "resource": e.Resource, "source IP": e.SourceIP} {
		if len(v) > maxField || !utf8.ValidString(v) || bytes.IndexByte([]byte(v), 0) >= 0 {
			return fmt.Errorf("%w: %s is not text of at most %d bytes", ErrInvalid, name, maxField)
		}
	}
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("%w: actor and action are required", ErrInvalid)
	}
	switch e.Result {
	case ResultSuccess, ResultFailure, ResultDenied:
	default:
		return fmt.Errorf("%w: result %q: want %s, %s or %s", ErrInvalid, e.Result, ResultSuccess, ResultFailure, ResultDenied)
	}
	if len(e.Details) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(e.Details, &obj); err != nil {
			return fmt.Errorf("%w: details must be a JSON object: %v", ErrInvalid, err)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, e.Details); err != nil {
			return fmt.Errorf("%w: details: %v", ErrInvalid, err)
		}
		e.Details = b.Bytes()
		if len(e.Details) > maxDetails {
			// A refused push can carry megabytes of tags or error text;
			// its record is kept, shortened, rather than lost.
			t, err := truncateDetails(e.Details)
			if err != nil {
				return fmt.Errorf("%w: details: %v", ErrInvalid, err)
			}
			e.Details = t
		}
	}
	return nil
}

// ComputeHash returns SHA-256 over the canonical encoding of the record:
// the tag "moat-audit-v1", the sequence number and the time in Unix
// nanoseconds as 8-byte big-endian integers, then actor, action,
// resource, source IP, result, details and prev_hash, each preceded by
// its length as a uvarint. Lengths make the encoding unambiguous.
func (r *Record) ComputeHash() []byte {
	h := sha256.New()
	h.Write([]byte("moat-audit-v1"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(r.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(r.Time.UnixNano()))
	h.Write(n[:])
	var l [binary.MaxVarintLen64]byte
	for _, f := range [][]byte{[]byte(r.Actor), []byte(r.Action), []byte(r.Resource), []byte(r.SourceIP), []byte(r.Result), r.Details, r.PrevHash} {
		h.Write(l[:binary.PutUvarint(l[:], uint64(len(f)))])
		h.Write(f)
	}
	return h.Sum(nil)
}

// Filter selects records for Query and Export. Zero fields match all.
type Filter struct {
	Actor          string
	Action         string
	ResourcePrefix string
	Result         string
	Since, Until   time.Time // Since inclusive, Until exclusive
	// After continues a listing: records after this sequence number (or
	// before it, when Descending). 0 starts at the beginning (the end).
	After      int64
	Descending bool
	// Limit caps the page; 0 means 100, and at most 1000.
	Limit int
}

// Store persists the chain.
type Store interface {
	// Append calls build with the current head while holding the chain's
	// append lock, stores the records it returns (consecutive links of
	// the chain) and moves the head to the last, all in one transaction.
	Append(ctx context.Context, build func(head Head) ([]Record, error)) ([]Record, error)
	// Head returns the recorded end of the chain.
	Head(ctx context.Context) (Head, error)
	// Scan returns up to limit records with Seq > after, by Seq.
	Scan(ctx context.Context, after int64, limit int) ([]Record, error)
	// Query returns up to f.Limit records matching f, by Seq (descending
	// if asked), after f.After.
	Query(ctx context.Context, f Filter) ([]Record, error)
}

// Log appends to and checks a chain.
//
// Concurrent appends are committed together: while one batch is being
// written, new entries queue, and the next batch takes all of them in one
// transaction. Each caller still returns only once its record is stored,
// but a busy registry (every pull is recorded) pays one commit per batch
// rather than per record.
type Log struct {
	store    Store
	now      func() time.Time
	log      *slog.Logger
	onCommit func(Head)

	refusals refusals // see Record

	mu      sync.Mutex
	queue   []*appendCall // entries waiting for the next batch
	writing bool          // a batch is being written; its writer leads the next
}

// appendCall is one Append waiting in the queue.
type appendCall struct {
	e    Entry
	at   time.Time
	rec  Record
	err  error
	lead bool          // woken to write the next batch, not with a result
	wake chan struct{} // closed when rec/err are set or lead is
}

// Option configures New.
type Option func(*Log) error

// WithClock sets the clock stamping records. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(l *Log) error {
		if now == nil {
			return errors.New("nil clock")
		}
		l.now = now
		return nil
	}
}

// WithLogger sets where Record's and the refusal summaries' failed
// appends are logged. Default: slog.Default().
func WithLogger(log *slog.Logger) Option {
	return func(l *Log) error {
		if log == nil {
			return errors.New("nil logger")
		}
		l.log = log
		return nil
	}
}

// WithRefusalKeys bounds the memory Record spends aggregating refusals:
// at most n distinct refusals (source, actor, action, resource, result,
// reason) per minute are tracked one by one, and at most
// n/refusalKeysPerSourceDivisor of them per source; beyond that a
// source's refusals are counted together, and beyond n sources all
// together. Default: 10000.
func WithRefusalKeys(n int) Option {
	return func(l *Log) error {
		if n < refusalKeysPerSourceDivisor {
			return fmt.Errorf("refusal keys %d below %d", n, refusalKeysPerSourceDivisor)
		}
		l.refusals.maxKeys = n
		return nil
	}
}

// WithCommitHook calls fn with the new head after every commit of this
// Log's appends (not of other replicas'), on the committing goroutine:
// fn must return quickly. Checkpoints use it to count records. Default:
// none.
func WithCommitHook(fn func(Head)) Option {
	return func(l *Log) error {
		if fn == nil {
			return errors.New("nil commit hook")
		}
		l.onCommit = fn
		return nil
	}
}

// New returns a Log over store. Close it to write pending refusal
// summaries.
func New(store Store, opts ...Option) (*Log, error) {
	if store == nil {
		return nil, errors.New("audit: nil store")
	}
	l := &Log{store: store, now: time.Now, log: slog.Default(), refusals: refusals{maxKeys: defaultRefusalKeys}}
	for _, o := range opts {
		if err := o(l); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	return l, nil
}

// Append records e as the next link of the chain and returns it once it
// is stored.
func (l *Log) Append(ctx context.Context, e Entry) (Record, error) {
	recs, err := l.appendAll(ctx, []Entry{e})
	if err != nil {
		return Record{}, err
	}
	return recs[0], nil
}

// appendAll stores es as consecutive records in one transaction (they
// join one batch) and returns them once stored.
func (l *Log) appendAll(ctx context.Context, es []Entry) ([]Record, error) {
	if len(es) == 0 {
		return nil, nil
	}
	at := l.now().UTC()
	calls := make([]*appendCall, len(es))
	for i, e := range es {
		if err := e.normalize(); err != nil {
			return nil, err
		}
		calls[i] = &appendCall{e: e, at: at, wake: make(chan struct{})}
	}
	// Queued together under one lock, the calls land in one batch: a
	// batch takes the whole queue.
	l.mu.Lock()
	l.queue = append(l.queue, calls...)
	first := !l.writing
	l.writing = true
	l.mu.Unlock()
	c := calls[0]
	if !first {
		<-c.wake
	}
	if first || c.lead {
		l.writeBatch(ctx)
	}
	recs := make([]Record, len(calls))
	for i, c := range calls {
		if c.err != nil {
			return nil, c.err
		}
		recs[i] = c.rec
	}
	return recs, nil
}

// writeBatch stores every queued entry in one transaction, hands each
// caller its result, and wakes the first of those that queued meanwhile to
// write the next batch.
func (l *Log) writeBatch(ctx context.Context) {
	l.mu.Lock()
	batch := l.queue
	l.queue = nil
	l.mu.Unlock()

	// The batch holds other callers' entries: the leader's cancellation
	// must not lose them.
	recs, err := l.store.Append(context.WithoutCancel(ctx), func(head Head) ([]Record, error) {
		prev, seq := head.Hash, head.Seq
		if seq == 0 {
			prev = Genesis()
		}
		recs := make([]Record, len(batch))
		for i, c := range batch {
			seq++
			recs[i] = Record{Seq: seq, Time: c.at, Entry: c.e, PrevHash: bytes.Clone(prev)}
			recs[i].Hash = recs[i].ComputeHash()
			prev = recs[i].Hash
		}
		return recs, nil
	})
	if err == nil && len(recs) != len(batch) {
		err = fmt.Errorf("store kept %d of %d records", len(recs), len(batch))
	}
	for i, c := range batch {
		if err != nil {
			c.err = fmt.Errorf("audit: append: %w", err)
		} else {
			c.rec = recs[i]
		}
	}

	l.mu.Lock()
	var next *appendCall
	if len(l.queue) > 0 {
		next = l.queue[0]
		next.lead = true
	} else {
		l.writing = false
	}
	l.mu.Unlock()
	for _, c := range batch[1:] { // batch[0] is this leader, awake already
		close(c.wake)
	}
	if next != nil {
		close(next.wake)
	}
	if err == nil && l.onCommit != nil {
		last := recs[len(recs)-1]
		l.onCommit(Head{Seq: last.Seq, Hash: last.Hash})
	}
}

// TamperError says where the chain breaks.
type TamperError struct {
	Seq    int64 // the first bad record, or the missing one
	Reason string
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("audit log tampered at record %d: %s", e.Seq, e.Reason)
}

func (e *TamperError) Unwrap() error { return ErrTampered }

// Report summarizes a verification.
type Report struct {
	Records int64 // records checked
	Head    Head  // the recorded head
}

// verifyPage is how many records Verify reads at a time.
const verifyPage = 1000

// Verify walks the whole chain. It returns a *TamperError (wrapping
// ErrTampered) for the first record that does not hold: a hash that does
// not match its fields (edited), a sequence gap (deleted), a prev_hash
// that is not the previous record's hash (reordered, or a record
// re-hashed after an edit), or a chain that ends before the recorded head
// (truncated).
func (l *Log) Verify(ctx context.Context) (Report, error) {
	return VerifyFrom(ctx, l.store, Head{Seq: 0, Hash: Genesis()})
}

// VerifyFrom checks the chain in st after from (a record trusted to be
// in it, or the genesis Head{0, Genesis()}) up to the recorded head, as
// Log.Verify does for the whole chain; Report.Records counts the records
// after from.
func VerifyFrom(ctx context.Context, st Store, from Head) (Report, error) {
	head, err := st.Head(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("audit: read head: %w", err)
	}
	rep := Report{Head: head}
	prev := from
	for {
		recs, err := st.Scan(ctx, prev.Seq, verifyPage)
		if err != nil {
			return rep, fmt.Errorf("audit: scan after %d: %w", prev.Seq, err)
		}
		for i := range recs {
			r := &recs[i]
			switch {
			case r.Seq != prev.Seq+1:
				return rep, &TamperError{Seq: prev.Seq + 1, Reason: fmt.Sprintf("record missing (next present is %d)", r.Seq)}
			case !bytes.Equal(r.Hash, r.ComputeHash()):
				return rep, &TamperError{Seq: r.Seq, Reason: "contents do not match the record's hash (edited or moved)"}
			case !bytes.Equal(r.PrevHash, prev.Hash):
				return rep, &TamperError{Seq: r.Seq, Reason: fmt.Sprintf("prev_hash does not match record %d", prev.Seq)}
			}
			prev = Head{Seq: r.Seq, Hash: r.Hash}
			rep.Records++
		}
		if len(recs) < verifyPage {
			break
		}
	}
	switch {
	case prev.Seq < head.Seq:
		return rep, &TamperError{Seq: prev.Seq + 1, Reason: fmt.Sprintf("chain ends at %d but the head says %d (records removed from the end)", prev.Seq, head.Seq)}
	case prev.Seq > head.Seq || prev.Seq > 0 && !bytes.Equal(prev.Hash, head.Hash):
		return rep, &TamperError{Seq: head.Seq, Reason: "head does not match the last record"}
	}
	return rep, nil
}

// RecordAt returns record seq of st's chain, or false when there is none.
func RecordAt(ctx context.Context, st Store, seq int64) (Record, bool, error) {
	recs, err := st.Scan(ctx, seq-1, 1)
	if err != nil {
		return Record{}, false, fmt.Errorf("audit: read record %d: %w", seq, err)
	}
	if len(recs) == 0 || recs[0].Seq != seq {
		return Record{}, false, nil
	}
	return recs[0], true, nil
}

// Query returns a page of records matching f and the cursor for the next
// page (0 when there is none).
func (l *Log) Query(ctx context.Context, f Filter) ([]Record, int64, error) {
	switch {
	case f.Limit == 0:
		f.Limit = 100
	case f.Limit < 0 || f.Limit > 1000:
		return nil, 0, fmt.Errorf("%w: limit %d outside 1..1000", ErrInvalid, f.Limit)
	}
	if f.After < 0 {
		return nil, 0, fmt.Errorf("%w: negative cursor", ErrInvalid)
	}
	if f.Result != "" && f.Result != ResultSuccess && f.Result != ResultFailure && f.Result != ResultDenied {
		return nil, 0, fmt.Errorf("%w: result %q", ErrInvalid, f.Result)
	}
	// One extra record tells whether another page exists.
	want := f.Limit
	f.Limit++
	recs, err := l.store.Query(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("audit: query: %w", err)
	}
	if len(recs) <= want {
		return recs, 0, nil
	}
	recs = recs[:want]
	return recs, recs[want-1].Seq, nil
}

// jsonRecord is a record's export form.
type jsonRecord struct {
	Seq      int64           `json:"seq"`
	Time     string          `json:"time"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Resource string          `json:"resource,omitempty"`
	SourceIP string          `json:"source_ip,omitempty"`
	Result   string          `json:"result"`
	Details  json.RawMessage `json:"details,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// MarshalJSON renders the export form, hashes in hex.
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonRecord{
		Seq: r.Seq, Time: r.Time.UTC().Format(time.RFC3339Nano), Actor: r.Actor, Action: r.Action,
		Resource: r.Resource, SourceIP: r.SourceIP, Result: r.Result, Details: r.Details,
		PrevHash: hex.EncodeToString(r.PrevHash), Hash: hex.EncodeToString(r.Hash),
	})
}

// Export writes every record matching f (f.Limit and f.After are
// ignored) as JSON lines, one record per line, in sequence order.
func (l *Log) Export(ctx context.Context, w io.Writer, f Filter) (int, error) {
	f.After, f.Limit = 0, 1000
	enc := json.NewEncoder(w)
	n := 0
	for {
		recs, next, err := l.Query(ctx, f)
		if err != nil {
			return n, err
		}
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return n, fmt.Errorf("audit: export: %w", err)
			}
			n++
		}
		if next == 0 {
			return n, nil
		}
		f.After = next
	}
}
