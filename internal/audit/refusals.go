package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Refusal aggregation bounds: a minute's window; defaultRefusalKeys
// distinct refusals tracked one by one per window, of which one source
// may hold 1/refusalKeysPerSourceDivisor; maxSummaryReasons reason
// classes named in a collapsed summary.
const (
	refusalWindow               = time.Minute
	defaultRefusalKeys          = 4096
	refusalKeysPerSourceDivisor = 64
	maxSummaryReasons           = 8
)

// Fields of collapsed summaries, whose refusals differed in them.
const (
	collapsedField  = "*"
	collapsedSource = "*" // the key of the bucket for every source at once
)

// refusalKey identifies identical refusals. A collapsed bucket's key
// keeps only source and result.
type refusalKey struct{ source, actor, action, resource, result, reason string }

type refusalBucket struct {
	// count is how many refusals the bucket's summary stands for: all of
	// a collapsed bucket's, all but the first (recorded at once) of an
	// exact one's.
	count   int64
	reasons map[string]bool // of a collapsed bucket
}

// refusals aggregates identical refusals per source and minute (see
// Log.Record). Memory is bounded by maxKeys exact and maxKeys collapsed
// buckets plus one for every source at once.
type refusals struct {
	maxKeys int

	mu        sync.Mutex
	window    time.Time // start of the tracked minute; zero when nothing is
	exact     map[refusalKey]*refusalBucket
	perSource map[string]int // exact buckets per source
	collapsed map[refusalKey]*refusalBucket
	timer     *time.Timer // flushes the window after it ends
	closed    bool
}

// Record builds op's entry (see [Op.Entry]) and appends it, returning
// once it is stored — except for repeated refusals. A refusal (op.Err is
// a Refusal) identical to one recorded within the same minute (same
// source IP, actor, action, resource, result and reason) is only
// counted: after the minute ends, one summary record per such refusal
// carries the count, with "aggregated": true, "count", "reason" and the
// window in its details. So a flood of refused requests costs one write
// per distinct refusal and minute, not one per request. When too many
// distinct refusals arrive (see WithRefusalKeys), a source's further
// refusals are counted in one summary whose actor, action and resource
// are "*" ("collapsed": true, with their reasons), and beyond as many
// sources, all sources' in one whose source is empty. Counts still held
// are written by Close.
func (l *Log) Record(ctx context.Context, op Op) error {
	e := op.Entry()
	if _, reason, ok := refusalOf(op.Err); ok {
		return l.refuse(ctx, e, reason)
	}
	_, err := l.Append(ctx, e)
	return err
}

func (l *Log) refuse(ctx context.Context, e Entry, reason string) error {
	r := &l.refusals
	now := l.now()
	window := now.Truncate(refusalWindow)
	k := refusalKey{source: e.SourceIP, actor: e.Actor, action: e.Action, resource: e.Resource, result: e.Result, reason: reason}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_, err := l.Append(ctx, e)
		return err
	}
	var ended []Entry
	if !window.Equal(r.window) {
		ended = r.take()
		r.start(window)
	}
	if r.timer == nil {
		r.timer = time.AfterFunc(window.Add(refusalWindow).Sub(now), l.flushEndedRefusals)
	}
	if b := r.exact[k]; b != nil {
		b.count++
		r.mu.Unlock()
		return l.appendSummaries(ctx, ended)
	}
	if len(r.exact) < r.maxKeys && r.perSource[k.source] < r.maxKeys/refusalKeysPerSourceDivisor {
		b := &refusalBucket{}
		r.exact[k] = b
		r.perSource[k.source]++
		r.mu.Unlock()
		err := l.appendSummaries(ctx, ended)
		if _, aerr := l.Append(ctx, e); aerr != nil {
			// Not recorded on its own: let the summary count it.
			r.mu.Lock()
			if r.exact[k] == b {
				b.count++
			}
			r.mu.Unlock()
			return errors.Join(err, aerr)
		}
		return err
	}
	ck := refusalKey{source: k.source, result: k.result}
	b := r.collapsed[ck]
	if b == nil && len(r.collapsed) >= r.maxKeys {
		ck.source = collapsedSource
		b = r.collapsed[ck]
	}
	if b == nil {
		b = &refusalBucket{reasons: map[string]bool{}}
		r.collapsed[ck] = b
	}
	b.count++
	if len(b.reasons) < maxSummaryReasons {
		b.reasons[reason] = true
	}
	r.mu.Unlock()
	return l.appendSummaries(ctx, ended)
}

// start begins tracking the window starting at w.
func (r *refusals) start(w time.Time) {
	r.window = w
	r.exact = map[refusalKey]*refusalBucket{}
	r.perSource = map[string]int{}
	r.collapsed = map[refusalKey]*refusalBucket{}
}

// take returns the summaries of the tracked window, in a stable order,
// and stops tracking it.
func (r *refusals) take() []Entry {
	if r.window.IsZero() {
		return nil
	}
	var out []Entry
	start, end := r.window.UTC().Format(time.RFC3339), r.window.Add(refusalWindow).UTC().Format(time.RFC3339)
	summary := func(k refusalKey, d map[string]any) Entry {
		d["aggregated"], d["window_start"], d["window_end"] = true, start, end
		b, _ := json.Marshal(d) // strings, numbers and booleans only
		return Entry{Actor: k.actor, Action: k.action, Resource: k.resource, SourceIP: k.source, Result: k.result, Details: b}
	}
	for k, b := range r.exact {
		if b.count > 0 {
			out = append(out, summary(k, map[string]any{"count": b.count, "reason": k.reason}))
		}
	}
	for k, b := range r.collapsed {
		reasons := make([]string, 0, len(b.reasons))
		for rs := range b.reasons {
			reasons = append(reasons, rs)
		}
		slices.Sort(reasons)
		extra := map[string]any{"count": b.count, "collapsed": true, "reasons": reasons}
		k.actor, k.action, k.resource = collapsedField, collapsedField, collapsedField
		if k.source == collapsedSource {
			k.source = ""
			extra["all_sources"] = true
		}
		out = append(out, summary(k, extra))
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.SourceIP, b.SourceIP), cmp.Compare(a.Actor, b.Actor), cmp.Compare(a.Action, b.Action),
			cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Result, b.Result), cmp.Compare(string(a.Details), string(b.Details)))
	})
	r.window, r.exact, r.perSource, r.collapsed = time.Time{}, nil, nil, nil
	return out
}

// appendSummaries stores refusal summaries in one transaction. They are
// other requests' records: the caller's cancellation does not stop them.
func (l *Log) appendSummaries(ctx context.Context, es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	if _, err := l.appendAll(context.WithoutCancel(ctx), es); err != nil {
		return fmt.Errorf("audit: refusal summaries: %w", err)
	}
	return nil
}

// flushEndedRefusals runs on the timer: it writes the tracked window's
// summaries once the window has ended (the clock may say otherwise than
// the timer), or waits for the rest of it.
func (l *Log) flushEndedRefusals() {
	r := &l.refusals
	now := l.now()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if end := r.window.Add(refusalWindow); !r.window.IsZero() && now.Before(end) {
		r.timer = time.AfterFunc(end.Sub(now), l.flushEndedRefusals)
		r.mu.Unlock()
		return
	}
	ended := r.take()
	r.timer = nil
	r.mu.Unlock()
	if err := l.appendSummaries(context.Background(), ended); err != nil {
		l.log.Error("audit: write refusal summaries", "err", err)
	}
}

// Close writes the summaries of refusals still being counted. Records
// after Close are appended one by one.
func (l *Log) Close(ctx context.Context) error {
	r := &l.refusals
	r.mu.Lock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	ended := r.take()
	r.mu.Unlock()
	return l.appendSummaries(ctx, ended)
}
