package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/jobs"
)

// Register adds the delivery workers, and an hourly Purge of the log, to
// r; call it before r.Run.
func (s *Service) Register(r *jobs.Runner) error {
	// A delivery's lease need only outlast one request: a sender that
	// dies mid-request has its delivery retried soon after.
	lease := 2*s.client.Timeout + 5*time.Second
	if err := r.Handle(DeliveryKind, jobs.Kind{Handler: s.deliver, Workers: s.workers, Lease: lease}); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	purge := func(ctx context.Context, _ *jobs.Job) error {
		_, err := s.Purge(ctx)
		return err
	}
	if err := r.Handle(purgeKind, jobs.Kind{Handler: purge}); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	if err := r.Every(purgeKind, time.Hour, jobs.Job{Kind: purgeKind}); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	return nil
}

const purgeKind = "webhook-purge"

// Response bodies are drained (so the connection is reused) up to
// maxDrain; the first maxExcerpt bytes of a failure go into the log.
const (
	maxDrain   = 64 << 10
	maxExcerpt = 256
)

// maxRetryAfter bounds a receiver's Retry-After; the retry window ends
// retries in any case.
const maxRetryAfter = 24 * time.Hour

// message is a rendered event.
type message struct {
	id, typ, subject, body string
}

// attempt is what one try at a delivery did.
type attempt struct {
	at         time.Time
	status     int
	err        string
	took       time.Duration
	outcome    Outcome
	retryAfter time.Duration
}

// deliver is the job handler: one attempt at one delivery. Retries are
// new jobs it enqueues in the transaction that logs the attempt, so the
// log says exactly whether and when the next attempt comes, and a
// receiver's Retry-After can set that time.
func (s *Service) deliver(ctx context.Context, j *jobs.Job) error {
	var p payload
	if err := j.Decode(&p); err != nil {
		return jobs.Permanent(err)
	}
	w, err := s.byID(ctx, p.Webhook)
	if errors.Is(err, ErrNotFound) {
		return nil // deleted, with its log: nothing left to send or record
	}
	if err != nil {
		return err
	}
	m, err := s.message(ctx, p.Message)
	if err != nil {
		return err
	}
	var a attempt
	if !w.Enabled && !p.Test {
		a = attempt{at: s.now(), err: "webhook disabled", outcome: Failed}
	} else {
		a = s.post(ctx, w, m, p.Delivery)
	}
	// The attempt is logged even when ctx ends meanwhile: a receiver that
	// answered must not get the event again for want of a log row.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if a.status == 0 && a.outcome == Retrying && ctx.Err() != nil {
		// Cut short by the runner stopping or losing the lease: the job
		// goes back to the queue as it is, for another worker now.
		a.err = "interrupted: " + a.err
		if err := s.record(rctx, j, p, w, m, &a, false); err != nil {
			s.log.WarnContext(rctx, "log interrupted webhook delivery", "webhook", w.Name, "delivery", p.Delivery, "err", err)
		}
		s.metrics.observe(string(a.outcome), a.took)
		return fmt.Errorf("webhook %s delivery %s: %w", w.Name, p.Delivery, ctx.Err())
	}
	if err := s.record(rctx, j, p, w, m, &a, true); err != nil {
		return err
	}
	s.metrics.observe(string(a.outcome), a.took)
	switch a.outcome {
	case Failed:
		s.log.WarnContext(ctx, "webhook delivery failed", "webhook", w.Name, "event", m.id, "delivery", p.Delivery, "err", a.err)
		return jobs.Permanent(fmt.Errorf("webhook %s delivery %s: %s", w.Name, p.Delivery, a.err))
	case Retrying:
		s.log.DebugContext(ctx, "webhook delivery will be retried", "webhook", w.Name, "event", m.id, "delivery", p.Delivery, "err", a.err)
	}
	return nil
}

func (s *Service) message(ctx context.Context, id string) (message, error) {
	m := message{id: id}
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`SELECT type, subject, body FROM webhook_messages WHERE id = ?`), id).Scan(&m.typ, &m.subject, &m.body)
	if errors.Is(err, sql.ErrNoRows) {
		// Only a job older than the log's retention can miss its event.
		return m, jobs.Permanent(fmt.Errorf("webhooks: event %s was purged before its delivery", id))
	}
	if err != nil {
		return m, fmt.Errorf("webhooks: read event %s: %w", id, err)
	}
	return m, nil
}

// post sends m to w once and classifies the answer: 2xx delivered; 410
// Gone and every other 3xx or 4xx but 429 failed for good; 429, 5xx and
// transport errors worth retrying.
func (s *Service) post(ctx context.Context, w stored, m message, delivery string) attempt {
	at := s.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, strings.NewReader(m.body))
	if err != nil {
		return attempt{at: at, err: "build request: " + describe(err), outcome: Failed}
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "moat-webhooks/1")
	req.Header.Set("X-Moat-Signature", sign(w.Secret, []byte(m.body)))
	req.Header.Set("X-Moat-Delivery", delivery)
	req.Header.Set("X-Moat-Event", m.typ)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return attempt{at: at, err: describe(err), took: time.Since(start), outcome: Retrying}
	}
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	a := attempt{at: at, status: resp.StatusCode, took: time.Since(start)}
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		a.outcome = Delivered
		return a
	case code == http.StatusTooManyRequests || code >= 500:
		a.outcome = Retrying
		a.retryAfter = retryAfter(resp.Header.Get("Retry-After"), s.now())
	default:
		a.outcome = Failed
	}
	a.err = fmt.Sprintf("HTTP %d", code)
	if code >= 300 && code < 400 {
		a.err += ": redirects are not followed; configure the final URL"
	}
	if text := strings.TrimSpace(strings.ToValidUTF8(string(excerpt), "")); text != "" {
		a.err += ": " + text
	}
	return a
}

// sign returns the X-Moat-Signature value of body.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// describe words a transport error without the request URL, which may
// carry a token in its path or query.
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timed out"
		}
		err = ue.Err
	}
	return err.Error()
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// record logs attempt a and, with schedule, decides whether another
// follows: a retry is enqueued in the same transaction, no later than
// the job's deadline; an attempt started at or past the deadline ends
// failed.
func (s *Service) record(ctx context.Context, j *jobs.Job, p payload, w stored, m message, a *attempt, schedule bool) error {
	var (
		outcome Outcome
		text    string
	)
	// fn may run more than once (see sqldb.DB.Write), so it sets only
	// what it declares itself.
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		outcome, text = a.outcome, a.err
		var n int
		if err := tx.QueryRowContext(ctx, s.db.Q(`SELECT COUNT(*) FROM webhook_deliveries WHERE delivery = ?`), p.Delivery).Scan(&n); err != nil {
			return err
		}
		var nextAt int64
		if schedule && outcome == Retrying {
			deadline := j.GiveUpAt
			if deadline.IsZero() || !a.at.Before(deadline) {
				outcome, text = Failed, text+" (retries ended "+s.window.String()+" after the event)"
			} else {
				// The last retry starts at the deadline, even if this attempt
				// ended after it.
				next := s.now().Add(max(s.backoff(n+1), a.retryAfter))
				if next.After(deadline) {
					next = deadline
				}
				if err := s.enqueue(ctx, tx, p, next, deadline); err != nil {
					return err
				}
				nextAt = next.UTC().UnixNano()
			}
		}
		_, err := tx.ExecContext(ctx, s.db.Q(`
			INSERT INTO webhook_deliveries (webhook_id, delivery, event_id, event_type, subject, attempt, time, status_code, error, duration, outcome, next_attempt_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			w.id, p.Delivery, m.id, m.typ, m.subject, n+1, a.at.UTC().UnixNano(), a.status, truncate(text, 2000), a.took.Nanoseconds(), string(outcome), nextAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("webhooks: log delivery %s: %w", p.Delivery, err)
	}
	a.outcome, a.err = outcome, text
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
