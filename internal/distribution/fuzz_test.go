package distribution

import (
	"net/http"
	"strings"
	"testing"
)

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-10", "bytes=-5", "bytes=5-", "bytes=10-5", "bytes=0-1,2-3", "items=1-2", ""} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		start, end, partial, err := parseRange(h, size)
		if err != nil {
			return
		}
		if !partial && (start != 0 || end != size-1) {
			t.Fatalf("full response with range %d-%d of %d", start, end, size)
		}
		if partial && (start < 0 || end >= size || start > end) {
			t.Fatalf("range %d-%d of %d from %q", start, end, size, h)
		}
	})
}

func FuzzChunkOf(f *testing.F) {
	for _, s := range []string{"0-9", "bytes 10-19/*", "5-1", "-", "x-y", ""} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, cr string, length int64) {
		req, err := http.NewRequest("PATCH", "/v2/a/blobs/uploads/x", strings.NewReader(""))
		if err != nil {
			return
		}
		req.Header.Set("Content-Range", cr)
		req.ContentLength = length
		c, err := chunkOf(req)
		if err != nil {
			return
		}
		if strings.TrimSpace(cr) != "" && (c.Start < 0 || c.Length <= 0 || (length >= 0 && c.Length != length)) {
			t.Fatalf("chunk %+v from %q with length %d", c, cr, length)
		}
	})
}
