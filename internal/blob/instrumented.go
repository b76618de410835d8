package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
)

// Operation names used as the "op" label of the metrics.
const (
	opStat         = "stat"
	opOpen         = "open"
	opDelete       = "delete"
	opAppendUpload = "append_upload"
	opUploadSize   = "upload_size"
	opOpenUpload   = "open_upload"
	opCommitUpload = "commit_upload"
	opDeleteUpload = "delete_upload"
	opWalkBlobs    = "walk_blobs"
)

// metrics are the collectors of one instrumented driver.
type metrics struct {
	duration *prometheus.HistogramVec // op
	errors   *prometheus.CounterVec   // op, kind
	read     *prometheus.CounterVec   // op
	written  prometheus.Counter
}

// Instrumented wraps d in the decorator every driver runs behind. It
// rejects invalid digests, upload IDs, negative offsets and sizes before d
// sees them, and records on reg:
//
//	moat_blob_operation_duration_seconds{op}   histogram of call latency
//	moat_blob_operation_errors_total{op,kind}  failed calls by error kind
//	moat_blob_read_bytes_total{op}             bytes read from Open/OpenUpload readers
//	moat_blob_written_bytes_total              bytes appended to uploads
//
// kind is one of not_found, invalid_digest, invalid_upload_id,
// offset_mismatch, size_mismatch, upload_busy, canceled or other. The
// latency of Open and OpenUpload covers opening, not reading. To register
// several drivers on one registry, wrap the registry for each with
// prometheus.WrapRegistererWith and the same label name, e.g. "store".
//
// The result implements Walker if d does. Readers from Open keep
// io.Seeker when d's reader has it, for range requests.
func Instrumented(d Driver, reg prometheus.Registerer) (Driver, error) {
	if d == nil || reg == nil {
		return nil, errors.New("blob: Instrumented needs a driver and a registerer")
	}
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "moat_blob_operation_duration_seconds",
			Help:    "Latency of blob driver calls.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5ms .. ~131s
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_blob_operation_errors_total",
			Help: "Failed blob driver calls by error kind.",
		}, []string{"op", "kind"}),
		read: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_blob_read_bytes_total",
			Help: "Bytes read from blobs and uploads.",
		}, []string{"op"}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "moat_blob_written_bytes_total",
			Help: "Bytes appended to uploads.",
		}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.errors, m.read, m.written} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("blob: register metrics: %w", err)
		}
	}
	base := &instrumented{d: d, m: m}
	if w, ok := d.(Walker); ok {
		return &instrumentedWalker{instrumented: base, w: w}, nil
	}
	return base, nil
}

type instrumented struct {
	d Driver
	m *metrics
}

type instrumentedWalker struct {
	*instrumented
	w Walker
}

var (
	_ Driver = (*instrumented)(nil)
	_ Walker = (*instrumentedWalker)(nil)
)

// observe records one call; use as defer i.observe(op, time.Now(), &err).
func (i *instrumented) observe(op string, start time.Time, err *error) {
	i.m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if *err != nil {
		i.m.errors.WithLabelValues(op, errorKind(*err)).Inc()
	}
}

// errorKind classifies err for the kind label.
func errorKind(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrInvalidDigest):
		return "invalid_digest"
	case errors.Is(err, ErrInvalidUploadID):
		return "invalid_upload_id"
	case errors.Is(err, ErrOffsetMismatch):
		return "offset_mismatch"
	case errors.Is(err, ErrSizeMismatch):
		return "size_mismatch"
	case errors.Is(err, ErrUploadBusy):
		return "upload_busy"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "other"
}

func (i *instrumented) Stat(ctx context.Context, d digest.Digest) (_ int64, err error) {
	defer i.observe(opStat, time.Now(), &err)
	if err := ValidateDigest(d); err != nil {
		return 0, err
	}
	return i.d.Stat(ctx, d)
}

func (i *instrumented) Open(ctx context.Context, d digest.Digest, offset int64) (_ io.ReadCloser, err error) {
	defer i.observe(opOpen, time.Now(), &err)
	if err := ValidateDigest(d); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%w: negative read offset %d", ErrOffsetMismatch, offset)
	}
	rc, err := i.d.Open(ctx, d, offset)
	if err != nil {
		return nil, err
	}
	return countReads(rc, i.m.read.WithLabelValues(opOpen)), nil
}

func (i *instrumented) Delete(ctx context.Context, d digest.Digest) (err error) {
	defer i.observe(opDelete, time.Now(), &err)
	if err := ValidateDigest(d); err != nil {
		return err
	}
	return i.d.Delete(ctx, d)
}

func (i *instrumented) AppendUpload(ctx context.Context, id string, offset int64, r io.Reader) (n int64, err error) {
	defer i.observe(opAppendUpload, time.Now(), &err)
	if err := ValidateUploadID(id); err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", ErrOffsetMismatch, offset)
	}
	n, err = i.d.AppendUpload(ctx, id, offset, r)
	i.m.written.Add(float64(max(n, 0)))
	return n, err
}

func (i *instrumented) UploadSize(ctx context.Context, id string) (_ int64, err error) {
	defer i.observe(opUploadSize, time.Now(), &err)
	if err := ValidateUploadID(id); err != nil {
		return 0, err
	}
	return i.d.UploadSize(ctx, id)
}

func (i *instrumented) OpenUpload(ctx context.Context, id string) (_ io.ReadCloser, err error) {
	defer i.observe(opOpenUpload, time.Now(), &err)
	if err := ValidateUploadID(id); err != nil {
		return nil, err
	}
	rc, err := i.d.OpenUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	return countReads(rc, i.m.read.WithLabelValues(opOpenUpload)), nil
}

func (i *instrumented) CommitUpload(ctx context.Context, id string, d digest.Digest, size int64) (err error) {
	defer i.observe(opCommitUpload, time.Now(), &err)
	if err := ValidateUploadID(id); err != nil {
		return err
	}
	if err := ValidateDigest(d); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrSizeMismatch, size)
	}
	return i.d.CommitUpload(ctx, id, d, size)
}

func (i *instrumented) DeleteUpload(ctx context.Context, id string) (err error) {
	defer i.observe(opDeleteUpload, time.Now(), &err)
	if err := ValidateUploadID(id); err != nil {
		return err
	}
	return i.d.DeleteUpload(ctx, id)
}

func (i *instrumentedWalker) WalkBlobs(ctx context.Context, fn func(d digest.Digest, size int64) error) (err error) {
	defer i.observe(opWalkBlobs, time.Now(), &err)
	return i.w.WalkBlobs(ctx, fn)
}

// countReads wraps rc to count the bytes read through it, keeping
// io.Seeker if rc has it.
func countReads(rc io.ReadCloser, c prometheus.Counter) io.ReadCloser {
	cr := &countingReader{rc: rc, c: c}
	if s, ok := rc.(io.Seeker); ok {
		return &countingReadSeeker{countingReader: cr, s: s}
	}
	return cr
}

type countingReader struct {
	rc io.ReadCloser
	c  prometheus.Counter
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.c.Add(float64(n))
	}
	return n, err
}

func (r *countingReader) Close() error { return r.rc.Close() }

type countingReadSeeker struct {
	*countingReader
	s io.Seeker
}

func (r *countingReadSeeker) Seek(offset int64, whence int) (int64, error) {
	return r.s.Seek(offset, whence)
}
