package webhooks

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Outcome is how a delivery attempt ended.
type Outcome string

// The outcomes.
const (
	// Delivered: the receiver answered 2xx.
	Delivered Outcome = "delivered"
	// Retrying: the attempt failed and another is scheduled.
	Retrying Outcome = "retrying"
	// Failed: the attempt failed and no other will follow.
	Failed Outcome = "failed"
)

// Delivery is one logged attempt.
type Delivery struct {
	// ID orders the log; pass the last one seen as DeliveryFilter.Before
	// for the next page.
	ID int64
	// Delivery is the X-Moat-Delivery header, shared by the attempts at
	// one event for one webhook.
	Delivery  string
	EventID   string
	EventType string
	Subject   string
	// Attempt counts the attempts at this delivery, from 1.
	Attempt int
	// Time is when the attempt started.
	Time time.Time
	// StatusCode is the receiver's answer; 0 when there was none.
	StatusCode int
	// Error says why the attempt failed: the transport error, or the
	// status with the start of the response body.
	Error    string
	Duration time.Duration
	Outcome  Outcome
	// NextAttemptAt is when a retrying delivery is tried again; zero when
	// none is scheduled (or an interrupted attempt is redone at once).
	NextAttemptAt time.Time
}

// DeliveryFilter selects and pages the log.
type DeliveryFilter struct {
	// Outcome keeps attempts with that outcome; empty keeps all.
	Outcome Outcome
	// Before keeps attempts with an ID below it; 0 starts at the newest.
	Before int64
	// Limit is the page size, 1 to 500; 0 means 50.
	Limit int
}

// Deliveries returns the attempts at deliveries to the webhook called
// name, newest first, and the Before of the next page (0 on the last).
func (s *Service) Deliveries(ctx context.Context, name string, f DeliveryFilter) ([]Delivery, int64, error) {
	switch f.Outcome {
	case "", Delivered, Retrying, Failed:
	default:
		return nil, 0, fmt.Errorf("%w: outcome %q: want delivered, retrying or failed", ErrInvalid, f.Outcome)
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > 500 || f.Before < 0 {
		return nil, 0, fmt.Errorf("%w: limit %d (want 1..500), before %d (want a positive log id)", ErrInvalid, f.Limit, f.Before)
	}
	w, err := s.get(ctx, s.db.R, name, "")
	if err != nil {
		return nil, 0, err
	}
	before := f.Before
	if before == 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`
		SELECT id, delivery, event_id, event_type, subject, attempt, time, status_code, error, duration, outcome, next_attempt_at
		FROM webhook_deliveries WHERE webhook_id = ? AND id < ? AND (? = '' OR outcome = ?)
		ORDER BY id DESC LIMIT ?`), w.id, before, string(f.Outcome), string(f.Outcome), f.Limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("webhooks: deliveries of %s: %w", name, err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var (
			d              Delivery
			at, took, next int64
			outcome        string
		)
		if err := rows.Scan(&d.ID, &d.Delivery, &d.EventID, &d.EventType, &d.Subject, &d.Attempt, &at, &d.StatusCode, &d.Error, &took, &outcome, &next); err != nil {
			return nil, 0, fmt.Errorf("webhooks: deliveries of %s: %w", name, err)
		}
		d.Time, d.Duration, d.Outcome = time.Unix(0, at).UTC(), time.Duration(took), Outcome(outcome)
		if next != 0 {
			d.NextAttemptAt = time.Unix(0, next).UTC()
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("webhooks: deliveries of %s: %w", name, err)
	}
	if len(out) > f.Limit {
		out = out[:f.Limit]
		return out, out[len(out)-1].ID, nil
	}
	return out, 0, nil
}

// Purge deletes log entries and rendered events older than the
// retention, and reports how many log entries went. Register schedules it
// hourly; it is safe to call from anywhere at any time.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	before := s.now().Add(-s.retention).UTC().UnixNano()
	var n int64
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM webhook_deliveries WHERE time < ?`), before)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.db.Q(`DELETE FROM webhook_messages WHERE created_at < ?`), before)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("webhooks: purge: %w", err)
	}
	return n, nil
}
