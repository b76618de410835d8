package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/checkpoint"
)

// filterOf reads audit filters from the query: actor, action, resource
// (a prefix), result, since and until (RFC 3339), after (a sequence
// number), limit and order=desc.
func filterOf(q url.Values) (audit.Filter, error) {
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), ResourcePrefix: q.Get("resource"), Result: q.Get("result")}
	for key, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if s := q.Get(key); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, fmt.Errorf("%w: %s=%q: want RFC 3339", errBadRequest, key, s)
			}
			*dst = t
		}
	}
	for key, dst := range map[string]*int64{"after": &f.After} {
		if s := q.Get(key); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return f, fmt.Errorf("%w: %s=%q: want a non-negative integer", errBadRequest, key, s)
			}
			*dst = n
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return f, fmt.Errorf("%w: limit=%q: want 1..1000", errBadRequest, s)
		}
		f.Limit = n
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		f.Descending = true
	default:
		return f, fmt.Errorf("%w: order=%q: want asc or desc", errBadRequest, q.Get("order"))
	}
	return f, nil
}

func (h *handler) queryAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := filterOf(r.URL.Query())
	if err != nil {
		return err
	}
	recs, next, err := h.Audit.Query(r.Context(), f)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	out := map[string]any{"records": recs}
	if next != 0 {
		q := r.URL.Query()
		q.Set("after", strconv.FormatInt(next, 10))
		out["next"] = "/api/v1/audit?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) exportAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := filterOf(r.URL.Query())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := h.Audit.Export(r.Context(), w, f); err != nil {
		// The status is sent; a cut-off stream is all the client sees.
		h.log.ErrorContext(r.Context(), "audit export", "err", err)
	}
	return nil
}

// verifyAudit reports whether the chain holds: {"ok", "records",
// "head"}, with "checkpoint" (the newest signed one, which the chain
// still holds) when checkpoints are configured; when it does not hold,
// "ok": false with "first_bad_record" or "checkpoint_seq", and "reason".
func (h *handler) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	var (
		rep audit.Report
		cp  *checkpoint.Signed
		err error
	)
	if h.Checkpoints != nil {
		var res checkpoint.Result
		res, err = h.Checkpoints.Verify(r.Context())
		rep, cp = res.Report, res.Checkpoint
	} else {
		rep, err = h.Audit.Verify(r.Context())
	}
	var (
		te *audit.TamperError
		me *checkpoint.MismatchError
	)
	switch {
	case errors.As(err, &te):
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "records": rep.Records, "first_bad_record": te.Seq, "reason": te.Reason})
		return nil
	case errors.As(err, &me):
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "records": rep.Records, "checkpoint_seq": me.Checkpoint.Seq, "reason": me.Reason})
		return nil
	case errors.Is(err, audit.ErrTampered), errors.Is(err, checkpoint.ErrUnverifiable):
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "reason": err.Error()})
		return nil
	case err != nil:
		return err
	}
	out := map[string]any{"ok": true, "records": rep.Records, "head": map[string]any{"seq": rep.Head.Seq, "hash": fmt.Sprintf("%x", rep.Head.Hash)}}
	if cp != nil {
		out["checkpoint"] = map[string]any{"seq": cp.Seq, "hash": fmt.Sprintf("%x", cp.Hash), "time": cp.Time, "key_id": cp.KeyID}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
