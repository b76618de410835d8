package distribution

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/opencontainers/go-digest"
)

// getBlob serves GET and HEAD of a blob, honouring a single byte range.
func (h *handler) getBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	d := digest.Digest(rt.arg)
	size, err := h.reg.StatBlob(ctx, rt.name, d)
	if err != nil {
		return err
	}
	hd := w.Header()
	start, end, partial, err := parseRange(req.Header.Get("Range"), size)
	if err != nil {
		hd.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		return err
	}
	var body io.ReadCloser
	if req.Method != http.MethodHead {
		if body, _, err = h.reg.OpenBlob(ctx, rt.name, d, start); err != nil {
			return err
		}
		defer body.Close()
	}
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	}
	length := end - start + 1
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("ETag", `"`+d.String()+`"`)
	w.WriteHeader(status)
	if body == nil {
		return nil
	}
	if _, err := io.CopyN(w, body, length); err != nil {
		// The status is sent; all that is left is to stop.
		h.log.Debug("blob response interrupted", "digest", d, "err", err)
	}
	return nil
}

// parseRange interprets a Range header for a blob of size bytes. It
// returns the inclusive range to serve and whether it is partial. Forms
// other than a single "bytes=" range are ignored (the whole blob is
// served), as RFC 9110 allows.
func parseRange(h string, size int64) (start, end int64, partial bool, err error) {
	full := func() (int64, int64, bool, error) { return 0, size - 1, false, nil }
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if h == "" || !ok || strings.Contains(spec, ",") {
		return full()
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return full()
	}
	bad := fmt.Errorf("%w: range %q of a %d byte blob", registry.ErrRangeInvalid, h, size)
	switch {
	case first == "": // suffix: the last n bytes
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n < 0 {
			return full()
		}
		if n == 0 || size == 0 {
			return 0, 0, false, bad
		}
		n = min(n, size)
		return size - n, size - 1, true, nil
	default:
		s, perr := strconv.ParseInt(first, 10, 64)
		if perr != nil || s < 0 {
			return full()
		}
		e := size - 1
		if last != "" {
			if e, perr = strconv.ParseInt(last, 10, 64); perr != nil {
				return full()
			}
			if e < s {
				return 0, 0, false, bad
			}
			e = min(e, size-1)
		}
		if s >= size {
			return 0, 0, false, bad
		}
		return s, e, true, nil
	}
}

func (h *handler) deleteBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	d := digest.Digest(rt.arg)
	err := h.reg.DeleteBlob(req.Context(), rt.name, d)
	h.notify(req.Context(), Event{Action: policy.ActionDelete, Repository: rt.name, Reference: rt.arg, Digest: d, Err: err})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
