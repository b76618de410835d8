package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moatjobs").
const migrationLockKey int64 = 0x6d6f61746a6f6273

// Errors, classified with errors.Is.
var (
	// ErrInvalid: a job or argument is malformed; nothing was stored.
	ErrInvalid = errors.New("jobs: invalid")
	// ErrLeaseLost: the job's lease expired and another worker claimed
	// it (or it is gone); this worker's result was not recorded.
	ErrLeaseLost = errors.New("jobs: lease lost")
)

// Job states as stored.
const (
	stateQueued  = "queued"
	stateRunning = "running"
	stateFailed  = "failed"
)

// Job is one unit of work.
type Job struct {
	ID   int64
	Kind string
	// Key deduplicates: while a job of the same Kind and Key is queued,
	// enqueuing another does nothing. Empty: no deduplication.
	Key string
	// Payload is the handler's input, JSON.
	Payload json.RawMessage
	// Attempts counts claims so far, this one included.
	Attempts int
	// MaxAttempts bounds claims; 0 means the queue's default (10).
	MaxAttempts int
	// RunAt is the earliest time the job may run; zero means now.
	RunAt time.Time
	// GiveUpAt, when set, is a deadline after which a failed attempt is
	// not retried, whatever MaxAttempts says.
	GiveUpAt time.Time
	// LastError is the previous attempt's error, if any.
	LastError string
	CreatedAt time.Time
}

// Decode unmarshals the payload into v.
func (j *Job) Decode(v any) error {
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return fmt.Errorf("%w: job %d (%s) payload: %v", ErrInvalid, j.ID, j.Kind, err)
	}
	return nil
}

// Queue stores jobs in a database shared by every replica.
type Queue struct {
	db    *sqldb.DB
	now   func() time.Time
	owner string

	mu      sync.Mutex
	waiters []chan struct{} // idle local workers, woken by Enqueue
}

// Option configures New.
type Option func(*Queue) error

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(q *Queue) error {
		if now == nil {
			return errors.New("jobs: nil clock")
		}
		q.now = now
		return nil
	}
}

// WithOwner names this process in leases. Default: host name, process id
// and a random suffix, unique per Queue.
func WithOwner(name string) Option {
	return func(q *Queue) error {
		if name == "" {
			return errors.New("jobs: empty owner name")
		}
		q.owner = name
		return nil
	}
}

// New brings the job tables in db up to date and returns the queue.
func New(ctx context.Context, db *sqldb.DB, opts ...Option) (*Queue, error) {
	if err := db.Migrate(ctx, migrations, "migrations", "jobs_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	host, _ := os.Hostname()
	q := &Queue{db: db, now: time.Now, owner: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])}
	for _, o := range opts {
		if err := o(q); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// Owner is the name this queue's leases carry.
func (q *Queue) Owner() string { return q.owner }

// defaultMaxAttempts applies when a job names none.
const defaultMaxAttempts = 10

// maxPayload bounds a payload: jobs carry references, not data.
const maxPayload = 64 << 10

func (q *Queue) check(j *Job) error {
	switch {
	case j.Kind == "" || len(j.Kind) > 100:
		return fmt.Errorf("%w: kind %q", ErrInvalid, j.Kind)
	case len(j.Key) > 1000:
		return fmt.Errorf("%w: dedupe key longer than 1000 bytes", ErrInvalid)
	case len(j.Payload) > maxPayload:
		return fmt.Errorf("%w: payload larger than %d bytes", ErrInvalid, maxPayload)
	case j.MaxAttempts < 0:
		return fmt.Errorf("%w: negative max attempts", ErrInvalid)
	}
	if len(j.Payload) == 0 {
		j.Payload = json.RawMessage("{}")
	} else if !json.Valid(j.Payload) {
		return fmt.Errorf("%w: payload is not JSON", ErrInvalid)
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = defaultMaxAttempts
	}
	return nil
}

// Enqueue stores j in its own transaction; see EnqueueTx.
func (q *Queue) Enqueue(ctx context.Context, j Job) (id int64, queued bool, err error) {
	err = q.db.Write(ctx, func(tx *sql.Tx) error {
		id, queued, err = q.EnqueueTx(ctx, tx, j)
		return err
	})
	if err == nil && queued {
		q.wake()
	}
	return id, queued, err
}

// EnqueueTx stores j inside tx, a write transaction on the queue's
// database, so that the job exists if and only if tx commits. It reports
// queued false (and id 0) when an identical job was already waiting.
// Local workers are not woken before the commit; call Wake after it, or
// leave them to their next poll.
func (q *Queue) EnqueueTx(ctx context.Context, tx *sql.Tx, j Job) (id int64, queued bool, err error) {
	if err := q.check(&j); err != nil {
		return 0, false, err
	}
	now := q.now().UTC().UnixNano()
	runAt := now
	if !j.RunAt.IsZero() {
		runAt = j.RunAt.UnixNano()
	}
	var giveUp int64
	if !j.GiveUpAt.IsZero() {
		giveUp = j.GiveUpAt.UnixNano()
	}
	err = tx.QueryRowContext(ctx, q.db.Q(`
		INSERT INTO jobs (kind, dedupe_key, payload, state, max_attempts, run_at, give_up_at, created_at, updated_at)
		VALUES (?, ?, ?, '`+stateQueued+`', ?, ?, ?, ?, ?)
		ON CONFLICT (kind, dedupe_key) WHERE state = '`+stateQueued+`' AND dedupe_key <> '' DO NOTHING
		RETURNING id`),
		j.Kind, j.Key, string(j.Payload), j.MaxAttempts, runAt, giveUp, now, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("jobs: enqueue %s: %w", j.Kind, err)
	}
	return id, true, nil
}

// Wake tells this process's idle workers that jobs may be waiting.
func (q *Queue) Wake() { q.wake() }

func (q *Queue) wake() {
	q.mu.Lock()
	ws := q.waiters
	q.waiters = nil
	q.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// woken returns a channel closed by the next Wake.
func (q *Queue) woken() <-chan struct{} {
	ch := make(chan struct{})
	q.mu.Lock()
	q.waiters = append(q.waiters, ch)
	q.mu.Unlock()
	return ch
}

// Claim leases the next runnable job of kind for lease: the oldest due
// queued job, or a running one whose lease expired. It returns nil when
// there is none.
func (q *Queue) Claim(ctx context.Context, kind string, lease time.Duration) (*Job, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("%w: lease %v", ErrInvalid, lease)
	}
	now := q.now().UTC()
	skipLocked := ""
	if q.db.Engine() == sqldb.Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	var (
		j                      Job
		payload                string
		runAt, giveUp, created int64
	)
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, q.db.Q(`
			UPDATE jobs SET state = '`+stateRunning+`', attempts = attempts + 1,
				lease_owner = ?, lease_until = ?, updated_at = ?
			WHERE id = (
				SELECT id FROM jobs
				WHERE kind = ? AND (
					(state = '`+stateQueued+`' AND run_at <= ?) OR
					(state = '`+stateRunning+`' AND lease_until < ?))
				ORDER BY run_at, id LIMIT 1`+skipLocked+`)
			RETURNING id, kind, dedupe_key, payload, attempts, max_attempts, run_at, give_up_at, last_error, created_at`),
			q.owner, now.Add(lease).UnixNano(), now.UnixNano(), kind, now.UnixNano(), now.UnixNano()).
			Scan(&j.ID, &j.Kind, &j.Key, &payload, &j.Attempts, &j.MaxAttempts, &runAt, &giveUp, &j.LastError, &created)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: claim %s: %w", kind, err)
	}
	j.Payload = json.RawMessage(payload)
	j.RunAt, j.CreatedAt = time.Unix(0, runAt).UTC(), time.Unix(0, created).UTC()
	if giveUp != 0 {
		j.GiveUpAt = time.Unix(0, giveUp).UTC()
	}
	return &j, nil
}

// Extend renews the lease on a job this queue claimed.
func (q *Queue) Extend(ctx context.Context, j *Job, lease time.Duration) error {
	now := q.now().UTC()
	return q.ifLeased(ctx, j, `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = '`+stateRunning+`'`,
		now.Add(lease).UnixNano(), now.UnixNano(), j.ID, q.owner)
}

// Complete deletes a job this queue claimed: its work is done.
func (q *Queue) Complete(ctx context.Context, j *Job) error {
	return q.ifLeased(ctx, j, `DELETE FROM jobs WHERE id = ? AND lease_owner = ? AND state = '`+stateRunning+`'`, j.ID, q.owner)
}

// Retry queues a job this queue claimed again at runAt, recording
// cause; when its attempts or deadline are used up it is marked failed
// instead. It reports whether the job will run again.
func (q *Queue) Retry(ctx context.Context, j *Job, cause error, runAt time.Time) (bool, error) {
	msg := truncate(cause.Error(), 2000)
	if j.Attempts >= j.MaxAttempts || !j.GiveUpAt.IsZero() && !runAt.Before(j.GiveUpAt) {
		return false, q.fail(ctx, j, msg, q.now().UTC())
	}
	return true, q.requeue(ctx, j, runAt, msg, false)
}

// Release hands a job this queue claimed back to the queue at once, its
// attempt not counted: the process is stopping, not the job failing.
func (q *Queue) Release(ctx context.Context, j *Job) error {
	return q.requeue(ctx, j, q.now().UTC(), j.LastError, true)
}

func (q *Queue) requeue(ctx context.Context, j *Job, runAt time.Time, msg string, refund bool) error {
	now := q.now().UTC()
	refunded := 0
	if refund {
		refunded = 1
	}
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		// A twin enqueued while the job ran stands for both.
		var twin int
		if j.Key != "" {
			if err := tx.QueryRowContext(ctx, q.db.Q(`SELECT COUNT(*) FROM jobs WHERE kind = ? AND dedupe_key = ? AND state = '`+stateQueued+`'`),
				j.Kind, j.Key).Scan(&twin); err != nil {
				return err
			}
		}
		query, args := `UPDATE jobs SET state = '`+stateQueued+`', run_at = ?, last_error = ?, attempts = attempts - ?,
			lease_owner = '', lease_until = 0, updated_at = ?
			WHERE id = ? AND lease_owner = ? AND state = '`+stateRunning+`'`, []any{runAt.UnixNano(), msg, refunded, now.UnixNano(), j.ID, q.owner}
		if twin > 0 {
			query, args = `DELETE FROM jobs WHERE id = ? AND lease_owner = ? AND state = '`+stateRunning+`'`, []any{j.ID, q.owner}
		}
		res, err := tx.ExecContext(ctx, q.db.Q(query), args...)
		if err != nil {
			return err
		}
		return oneRow(res)
	})
	if err != nil {
		return fmt.Errorf("jobs: requeue %d (%s): %w", j.ID, j.Kind, err)
	}
	return nil
}

// Fail marks a job this queue claimed as failed for good.
func (q *Queue) Fail(ctx context.Context, j *Job, cause error) error {
	return q.fail(ctx, j, truncate(cause.Error(), 2000), q.now().UTC())
}

func (q *Queue) fail(ctx context.Context, j *Job, msg string, now time.Time) error {
	return q.ifLeased(ctx, j, `UPDATE jobs SET state = '`+stateFailed+`', last_error = ?, lease_owner = '', lease_until = 0, updated_at = ?
		WHERE id = ? AND lease_owner = ? AND state = '`+stateRunning+`'`, msg, now.UnixNano(), j.ID, q.owner)
}

// ifLeased runs a statement that must touch exactly the leased job row.
func (q *Queue) ifLeased(ctx context.Context, j *Job, query string, args ...any) error {
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q.db.Q(query), args...)
		if err != nil {
			return err
		}
		return oneRow(res)
	})
	if err != nil {
		return fmt.Errorf("jobs: job %d (%s): %w", j.ID, j.Kind, err)
	}
	return nil
}

func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrLeaseLost
	}
	return nil
}

// PurgeFailed deletes failed jobs last updated before before and reports
// how many.
func (q *Queue) PurgeFailed(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q.db.Q(`DELETE FROM jobs WHERE state = '`+stateFailed+`' AND updated_at < ?`), before.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("jobs: purge failed jobs: %w", err)
	}
	return n, nil
}

// Count is the number of jobs of one kind in one state.
type Count struct {
	Kind, State string
	N           int64
}

// Counts reports how many jobs wait, run and failed, per kind.
func (q *Queue) Counts(ctx context.Context) ([]Count, error) {
	rows, err := q.db.R.QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("jobs: counts: %w", err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Kind, &c.State, &c.N); err != nil {
			return nil, fmt.Errorf("jobs: counts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Failed lists failed jobs of kind ("" for all), newest first.
func (q *Queue) Failed(ctx context.Context, kind string, limit int) ([]Job, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := q.db.R.QueryContext(ctx, q.db.Q(`
		SELECT id, kind, dedupe_key, payload, attempts, max_attempts, last_error, created_at FROM jobs
		WHERE state = '`+stateFailed+`' AND (? = '' OR kind = ?) ORDER BY updated_at DESC, id DESC LIMIT ?`), kind, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("jobs: failed: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		var (
			j       Job
			payload string
			created int64
		)
		if err := rows.Scan(&j.ID, &j.Kind, &j.Key, &payload, &j.Attempts, &j.MaxAttempts, &j.LastError, &created); err != nil {
			return nil, fmt.Errorf("jobs: failed: %w", err)
		}
		j.Payload, j.CreatedAt = json.RawMessage(payload), time.Unix(0, created).UTC()
		out = append(out, j)
	}
	return out, rows.Err()
}

// due claims schedule name's current period if it is due: it moves
// next_run_at forward by every and reports whether this call did, in
// which case the caller enqueues the period's run. Concurrent callers on
// any replica see exactly one true per period.
func (q *Queue) due(ctx context.Context, name string, every time.Duration) (bool, error) {
	now := q.now().UTC().UnixNano()
	var moved bool
	err := q.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, q.db.Q(`INSERT INTO job_schedules (name, next_run_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, q.db.Q(`UPDATE job_schedules SET next_run_at = ? WHERE name = ? AND next_run_at <= ?`),
			now+every.Nanoseconds(), name, now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		moved = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("jobs: schedule %s: %w", name, err)
	}
	return moved, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
