package webhooks

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/jobs"
)

// DeliveryKind is the job kind of a delivery to one webhook.
const DeliveryKind = "webhook-delivery"

// ConsumerName is the outbox consumer's name, its cursor's key.
const ConsumerName = "webhooks"

// payload is a delivery job's input: which rendered event goes to which
// webhook, under which X-Moat-Delivery id.
type payload struct {
	Webhook  int64  `json:"webhook"`
	Message  string `json:"message"`
	Delivery string `json:"delivery"`
	// Test pings reach a disabled webhook too.
	Test bool `json:"test,omitempty"`
}

// Consumer is the outbox consumer that fans each event out: for every
// enabled webhook whose filters it passes, one delivery job, enqueued in
// one transaction with the rendered event. Pass it to events.Outbox.Run.
// A new consumer starts at the outbox's head, so history is not sent to
// webhooks the first time the server runs with them.
func (s *Service) Consumer() events.Consumer {
	return events.Consumer{Name: ConsumerName, Handle: s.fanOut}
}

// outgoing is one event on its way to the webhooks that want it.
type outgoing struct {
	ev   events.Event
	id   string
	body []byte
	to   []stored
}

func (s *Service) fanOut(ctx context.Context, evs []events.Event) error {
	hooks, err := s.enabledHooks(ctx)
	if err != nil || len(hooks) == 0 {
		return err
	}
	var work []outgoing
	for _, e := range evs {
		// The outbox holds JSON objects only; a repository that is not a
		// string names none.
		var d struct {
			Repository string `json:"repository"`
		}
		_ = json.Unmarshal(e.Data, &d)
		to := matching(hooks, e.Type, d.Repository)
		if len(to) == 0 {
			continue
		}
		id := fmt.Sprintf("%s-%d", s.instance, e.ID)
		body, err := render(id, s.source, e.Type, e.Subject, e.Time, e.Data)
		if err != nil {
			// Retrying cannot fix it, and it must not hold up the rest.
			s.log.ErrorContext(ctx, "webhook event dropped", "event", e.ID, "type", e.Type, "err", err)
			continue
		}
		work = append(work, outgoing{e, id, body, to})
	}
	if len(work) == 0 {
		return nil
	}
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		for _, o := range work {
			fresh, err := s.storeMessage(ctx, tx, o.id, o.ev.Type, o.ev.Subject, o.body)
			if err != nil {
				return err
			}
			if !fresh {
				continue // a replayed batch: its deliveries were enqueued with the message
			}
			for _, w := range o.to {
				if err := s.enqueue(ctx, tx, payload{Webhook: w.id, Message: o.id, Delivery: rand.Text()}, time.Time{}, o.ev.Time.Add(s.window)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("webhooks: fan out: %w", err)
	}
	s.queue.Wake()
	return nil
}

// storeMessage stores a rendered event once; fresh is false when it was
// stored before.
func (s *Service) storeMessage(ctx context.Context, tx *sql.Tx, id, typ, subject string, body []byte) (fresh bool, err error) {
	res, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO webhook_messages (id, type, subject, body, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		id, typ, subject, string(body), s.now().UTC().UnixNano())
	if err != nil {
		return false, fmt.Errorf("store event %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// deliveryAttempts bounds the claims of one delivery job. Each job is
// normally claimed once (the handler schedules retries as new jobs); more
// claims mean crashed workers or a failing database.
const deliveryAttempts = 5

// enqueue schedules a delivery attempt at runAt (zero: now). The dedupe
// key keeps one waiting attempt per webhook and event.
func (s *Service) enqueue(ctx context.Context, tx *sql.Tx, p payload, runAt, deadline time.Time) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("delivery payload: %w", err)
	}
	_, _, err = s.queue.EnqueueTx(ctx, tx, jobs.Job{
		Kind: DeliveryKind, Key: fmt.Sprintf("%d/%s", p.Webhook, p.Message), Payload: b,
		MaxAttempts: deliveryAttempts, RunAt: runAt, GiveUpAt: deadline,
	})
	return err
}

// SendTest delivers a ping of type TestEvent to the webhook called name,
// whatever its filters and even when it is disabled, and returns the
// delivery id to find it in the log.
func (s *Service) SendTest(ctx context.Context, name string) (string, error) {
	w, err := s.get(ctx, s.db.R, name, "")
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	id := s.instance + "-test-" + rand.Text()[:16]
	data, _ := json.Marshal(map[string]string{"webhook": name}) // strings always marshal
	body, err := render(id, s.source, TestEvent, "webhook/"+name, now, data)
	if err != nil {
		return "", err
	}
	delivery := rand.Text()
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := s.storeMessage(ctx, tx, id, TestEvent, "webhook/"+name, body); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, payload{Webhook: w.id, Message: id, Delivery: delivery, Test: true}, time.Time{}, now.Add(s.window))
	})
	if err != nil {
		return "", fmt.Errorf("webhooks: test %s: %w", name, err)
	}
	s.queue.Wake()
	return delivery, nil
}
