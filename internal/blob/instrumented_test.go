package blob_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/moat-dev/moat/internal/blob"
	"github.com/moat-dev/moat/internal/blob/blobtest"
	"github.com/moat-dev/moat/internal/blob/fs"
)

func newInstrumented(t *testing.T) (blob.Driver, *prometheus.Registry) {
	t.Helper()
	inner, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	d, err := blob.Instrumented(inner, reg)
	if err != nil {
		t.Fatal(err)
	}
	return d, reg
}

func TestInstrumentedConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Driver {
		d, _ := newInstrumented(t)
		return d
	})
}

// countingDriver records how many calls reach it; every call succeeds.
type countingDriver struct{ calls atomic.Int64 }

func (c *countingDriver) Stat(context.Context, digest.Digest) (int64, error) {
	c.calls.Add(1)
	return 0, nil
}

func (c *countingDriver) Open(context.Context, digest.Digest, int64) (io.ReadCloser, error) {
	c.calls.Add(1)
	return io.NopCloser(strings.NewReader("")), nil
}

func (c *countingDriver) Delete(context.Context, digest.Digest) error {
	c.calls.Add(1)
	return nil
}

func (c *countingDriver) AppendUpload(context.Context, string, int64, io.Reader) (int64, error) {
	c.calls.Add(1)
	return 0, nil
}

func (c *countingDriver) UploadSize(context.Context, string) (int64, error) {
	c.calls.Add(1)
	return 0, nil
}

func (c *countingDriver) OpenUpload(context.Context, string) (io.ReadCloser, error) {
	c.calls.Add(1)
	return io.NopCloser(strings.NewReader("")), nil
}

func (c *countingDriver) CommitUpload(context.Context, string, digest.Digest, int64) error {
	c.calls.Add(1)
	return nil
}

func (c *countingDriver) DeleteUpload(context.Context, string) error {
	c.calls.Add(1)
	return nil
}

func TestInstrumentedRejectsBeforeDriver(t *testing.T) {
	inner := &countingDriver{}
	d, err := blob.Instrumented(inner, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(blob.Walker); ok {
		t.Error("decorator claims Walker for a driver without it")
	}
	ctx := t.Context()
	good := digest.FromString("x")
	bad := digest.Digest("sha256:../../etc/passwd")
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s = %v, want %v", what, err, want)
		}
	}
	_, err = d.Stat(ctx, bad)
	check("Stat", err, blob.ErrInvalidDigest)
	_, err = d.Open(ctx, bad, 0)
	check("Open", err, blob.ErrInvalidDigest)
	_, err = d.Open(ctx, good, -1)
	check("Open at -1", err, blob.ErrOffsetMismatch)
	check("Delete", d.Delete(ctx, bad), blob.ErrInvalidDigest)
	_, err = d.AppendUpload(ctx, "../x", 0, strings.NewReader("x"))
	check("AppendUpload", err, blob.ErrInvalidUploadID)
	_, err = d.AppendUpload(ctx, "x", -1, strings.NewReader("x"))
	check("AppendUpload at -1", err, blob.ErrOffsetMismatch)
	_, err = d.UploadSize(ctx, "a/b")
	check("UploadSize", err, blob.ErrInvalidUploadID)
	_, err = d.OpenUpload(ctx, "")
	check("OpenUpload", err, blob.ErrInvalidUploadID)
	check("CommitUpload bad id", d.CommitUpload(ctx, "..", good, 1), blob.ErrInvalidUploadID)
	check("CommitUpload bad digest", d.CommitUpload(ctx, "x", bad, 1), blob.ErrInvalidDigest)
	check("CommitUpload bad size", d.CommitUpload(ctx, "x", good, -1), blob.ErrSizeMismatch)
	check("DeleteUpload", d.DeleteUpload(ctx, "x y"), blob.ErrInvalidUploadID)
	if n := inner.calls.Load(); n != 0 {
		t.Fatalf("%d invalid calls reached the driver", n)
	}
	// Valid calls pass through.
	if _, err := d.Stat(ctx, good); err != nil {
		t.Fatal(err)
	}
	if err := d.CommitUpload(ctx, "x", good, 0); err != nil {
		t.Fatal(err)
	}
	if n := inner.calls.Load(); n != 2 {
		t.Fatalf("%d valid calls reached the driver, want 2", n)
	}
}

// metric returns the value of the counter or histogram count with the
// given name and labels, or -1 if absent.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	if m.GetHistogram() != nil {
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetCounter().GetValue()
}

func TestInstrumentedMetrics(t *testing.T) {
	d, reg := newInstrumented(t)
	ctx := t.Context()
	data := "0123456789"
	dg := digest.FromString(data)
	if _, err := d.AppendUpload(ctx, "up", 0, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	rc, err := d.OpenUpload(ctx, "up")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(rc)
	rc.Close()
	if err := d.CommitUpload(ctx, "up", dg, 10); err != nil {
		t.Fatal(err)
	}
	rc, err = d.Open(ctx, dg, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.(io.Seeker); !ok {
		t.Error("reader from Open lost io.Seeker")
	}
	io.ReadAll(rc)
	rc.Close()
	d.Stat(ctx, digest.FromString("missing"))
	d.Stat(ctx, "sha256:bad")
	d.AppendUpload(ctx, "other", 4, strings.NewReader("x"))

	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"moat_blob_written_bytes_total", nil, 10},
		{"moat_blob_read_bytes_total", map[string]string{"op": "open_upload"}, 10},
		{"moat_blob_read_bytes_total", map[string]string{"op": "open"}, 7},
		{"moat_blob_operation_duration_seconds", map[string]string{"op": "stat"}, 2},
		{"moat_blob_operation_duration_seconds", map[string]string{"op": "commit_upload"}, 1},
		{"moat_blob_operation_errors_total", map[string]string{"op": "stat", "kind": "not_found"}, 1},
		{"moat_blob_operation_errors_total", map[string]string{"op": "stat", "kind": "invalid_digest"}, 1},
		{"moat_blob_operation_errors_total", map[string]string{"op": "append_upload", "kind": "not_found"}, 1},
		{"moat_blob_operation_errors_total", map[string]string{"op": "commit_upload"}, -1},
	} {
		if got := metric(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	w, ok := d.(blob.Walker)
	if !ok {
		t.Fatal("decorated fs driver is not a Walker")
	}
	var walked []digest.Digest
	if err := w.WalkBlobs(ctx, func(d digest.Digest, _ int64) error {
		walked = append(walked, d)
		return nil
	}); err != nil || len(walked) != 1 || walked[0] != dg {
		t.Fatalf("WalkBlobs = %v, %v", walked, err)
	}
	if got := metric(t, reg, "moat_blob_operation_duration_seconds", map[string]string{"op": "walk_blobs"}); got != 1 {
		t.Errorf("walk_blobs observed %v times", got)
	}
}

func TestInstrumentedRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	inner := &countingDriver{}
	if _, err := blob.Instrumented(inner, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.Instrumented(inner, reg); err == nil {
		t.Fatal("second registration on the same registry succeeded")
	}
	// Two drivers share a registry when each carries a distinguishing label.
	shared := prometheus.NewRegistry()
	for _, store := range []string{"primary", "cache"} {
		wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"store": store}, shared)
		if _, err := blob.Instrumented(inner, wrapped); err != nil {
			t.Fatalf("registration of store %s: %v", store, err)
		}
	}
	if _, err := blob.Instrumented(nil, reg); err == nil {
		t.Fatal("nil driver accepted")
	}
}
