package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Consumer works through the outbox in order.
type Consumer struct {
	// Name identifies the consumer's cursor; required and stable.
	Name string
	// Handle is given each batch in order. An error leaves the cursor
	// where it was: the batch is offered again after a pause.
	Handle func(ctx context.Context, evs []Event) error
	// FromStart makes a new consumer begin with the oldest stored event;
	// by default it begins after the newest, so history is not replayed.
	FromStart bool
	// Batch is the most events handed over at once. Default 100.
	Batch int
}

// leaseFor is how long a consumer's lease lasts without renewal; a
// replica that dies hands its consumers over after this long.
const leaseFor = 30 * time.Second

// Run runs the consumers until ctx ends. poll is how often an idle
// consumer looks for events appended by other processes (Wake covers
// this one's).
func (o *Outbox) Run(ctx context.Context, poll time.Duration, consumers ...Consumer) error {
	for _, c := range consumers {
		if c.Name == "" || c.Handle == nil || c.Batch < 0 {
			return fmt.Errorf("%w: consumer %q needs a name and a handler", ErrInvalid, c.Name)
		}
	}
	var wg sync.WaitGroup
	for _, c := range consumers {
		if c.Batch == 0 {
			c.Batch = 100
		}
		wg.Go(func() { o.consume(ctx, poll, c) })
	}
	wg.Wait()
	return nil
}

func (o *Outbox) consume(ctx context.Context, poll time.Duration, c Consumer) {
	pause := poll
	created := false
	var held holding
	for ctx.Err() == nil {
		woken := o.woken()
		var more bool
		err := o.ensure(ctx, c, &created)
		if err == nil {
			more, err = o.step(ctx, c, &held)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			o.log.Error("event consumer", "consumer", c.Name, "err", err)
			pause = min(max(2*pause, poll), time.Minute)
		case err == nil:
			pause = poll
			if more {
				continue
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-woken:
		case <-t.C:
		}
		t.Stop()
	}
	// Let another replica take over at once.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = o.db.Write(rctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(rctx, o.db.Q(`UPDATE event_consumers SET lease_until = 0 WHERE name = ? AND lease_owner = ?`), c.Name, o.owner)
		return err
	})
}

// errNotLeaseholder: another replica holds the consumer.
var errNotLeaseholder = errors.New("events: consumer held by another process")

// holding is what this process knows of a consumer it leases: the
// cursor and until when the lease surely holds.
type holding struct {
	cur   Cursor
	until time.Time
}

// step takes or renews the consumer's lease when needed, hands the next
// batch to the handler and moves the cursor past it. more reports a full
// batch. The lease is written only when half of it is used up, so an
// idle consumer costs a read per poll, not a write.
func (o *Outbox) step(ctx context.Context, c Consumer, h *holding) (more bool, err error) {
	if now := o.now(); now.Add(leaseFor / 2).After(h.until) {
		cur, err := o.lease(ctx, c)
		if errors.Is(err, errNotLeaseholder) {
			h.until = time.Time{}
			return false, nil
		}
		if err != nil {
			return false, err
		}
		h.cur, h.until = cur, now.Add(leaseFor)
	}
	evs, next, err := o.Read(ctx, h.cur, c.Batch)
	if err != nil || len(evs) == 0 {
		return false, err
	}
	if err := c.Handle(ctx, evs); err != nil {
		return false, fmt.Errorf("handle events %d..%d: %w", evs[0].ID, evs[len(evs)-1].ID, err)
	}
	err = o.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, o.db.Q(`UPDATE event_consumers SET txid = ?, event_id = ? WHERE name = ? AND lease_owner = ?`),
			next.TxID, next.ID, c.Name, o.owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, errNotLeaseholder)
		}
		return nil
	})
	if err != nil {
		h.until = time.Time{} // take the lease again, or learn who has it
		return false, fmt.Errorf("move cursor of %s: %w", c.Name, err)
	}
	h.cur = next
	return len(evs) == c.Batch, nil
}

// ensure creates the consumer's row once per process: a new consumer
// starts at the head of the outbox, or at its start with FromStart.
func (o *Outbox) ensure(ctx context.Context, c Consumer, done *bool) error {
	if *done {
		return nil
	}
	var start Cursor
	if !c.FromStart {
		var err error
		if start, err = o.Head(ctx); err != nil {
			return err
		}
	}
	err := o.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, o.db.Q(`INSERT INTO event_consumers (name, txid, event_id) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
			c.Name, start.TxID, start.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", c.Name, err)
	}
	*done = true
	return nil
}

// lease takes or renews the consumer for this process and returns its
// cursor; errNotLeaseholder when another live process has it.
func (o *Outbox) lease(ctx context.Context, c Consumer) (Cursor, error) {
	now := o.now().UTC().UnixNano()
	var cur Cursor
	err := o.db.Write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, o.db.Q(`
			UPDATE event_consumers SET lease_owner = ?, lease_until = ?
			WHERE name = ? AND (lease_owner = ? OR lease_until < ?)
			RETURNING txid, event_id`), o.owner, now+leaseFor.Nanoseconds(), c.Name, o.owner, now).Scan(&cur.TxID, &cur.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotLeaseholder
		}
		return err
	})
	if err != nil && !errors.Is(err, errNotLeaseholder) {
		return Cursor{}, fmt.Errorf("lease consumer %s: %w", c.Name, err)
	}
	return cur, err
}
