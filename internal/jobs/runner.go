package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Handler does one job's work. Returning nil completes the job; an error
// retries it after a backoff (see Permanent for errors not worth
// retrying). ctx is cancelled when the runner stops or the job's lease is
// lost.
type Handler func(ctx context.Context, j *Job) error

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so the job fails at once instead of being retried.
func Permanent(err error) error { return &permanentError{err} }

// Kind configures the workers of one job kind.
type Kind struct {
	// Handler does the work; required.
	Handler Handler
	// Workers is how many jobs of the kind run at once in this process.
	// Default 1.
	Workers int
	// Lease is how long a claim holds before another worker may take the
	// job; it is renewed while the handler runs. Default 1 minute.
	Lease time.Duration
	// Backoff is the delay before attempt n+1 after n failed attempts.
	// Default: exponential from 1 s, doubling, capped at 10 minutes, with
	// ±20% jitter.
	Backoff func(attempts int) time.Duration
}

// Observer hears how each run ended, for metrics: outcome is "success",
// "retry" or "failed".
type Observer func(kind, outcome string, took time.Duration)

// Runner runs workers for registered kinds and enqueues periodic work.
type Runner struct {
	q       *Queue
	log     *slog.Logger
	poll    time.Duration
	observe Observer

	mu        sync.Mutex
	kinds     map[string]Kind
	schedules []schedule
	started   bool
}

type schedule struct {
	name  string
	every time.Duration
	job   Job
}

// RunnerOption configures NewRunner.
type RunnerOption func(*Runner) error

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) RunnerOption {
	return func(r *Runner) error {
		if l == nil {
			return errors.New("jobs: nil logger")
		}
		r.log = l
		return nil
	}
}

// WithPollInterval sets how often idle workers look for jobs that other
// processes enqueued or whose time came. Default: 1 second.
func WithPollInterval(d time.Duration) RunnerOption {
	return func(r *Runner) error {
		if d <= 0 {
			return fmt.Errorf("jobs: poll interval %v must be positive", d)
		}
		r.poll = d
		return nil
	}
}

// WithObserver reports every finished run. Default: none.
func WithObserver(fn Observer) RunnerOption {
	return func(r *Runner) error {
		if fn == nil {
			return errors.New("jobs: nil observer")
		}
		r.observe = fn
		return nil
	}
}

// NewRunner returns a runner over q; register kinds, then Run.
func NewRunner(q *Queue, opts ...RunnerOption) (*Runner, error) {
	if q == nil {
		return nil, errors.New("jobs: nil queue")
	}
	r := &Runner{q: q, log: slog.Default(), poll: time.Second, observe: func(string, string, time.Duration) {}, kinds: map[string]Kind{}}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Handle registers the workers of kind. It must be called before Run.
func (r *Runner) Handle(kind string, k Kind) error {
	if kind == "" || k.Handler == nil {
		return fmt.Errorf("%w: a kind needs a name and a handler", ErrInvalid)
	}
	if k.Workers == 0 {
		k.Workers = 1
	}
	if k.Lease == 0 {
		k.Lease = time.Minute
	}
	if k.Workers < 0 || k.Lease < time.Second {
		return fmt.Errorf("%w: kind %s: workers %d, lease %v", ErrInvalid, kind, k.Workers, k.Lease)
	}
	if k.Backoff == nil {
		k.Backoff = ExponentialBackoff(time.Second, 10*time.Minute)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("%w: kind %s registered after Run", ErrInvalid, kind)
	}
	if _, dup := r.kinds[kind]; dup {
		return fmt.Errorf("%w: kind %s registered twice", ErrInvalid, kind)
	}
	r.kinds[kind] = k
	return nil
}

// Every enqueues job once per period every, across all replicas sharing
// the database: the period's run is durable work like any other. job.Key
// defaults to name, so a run still waiting absorbs the next.
func (r *Runner) Every(name string, every time.Duration, job Job) error {
	if name == "" || every < time.Second || job.Kind == "" {
		return fmt.Errorf("%w: schedule %q every %v of kind %q", ErrInvalid, name, every, job.Kind)
	}
	if job.Key == "" {
		job.Key = name
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("%w: schedule %s added after Run", ErrInvalid, name)
	}
	r.schedules = append(r.schedules, schedule{name, every, job})
	return nil
}

// ExponentialBackoff doubles from base up to max, with ±20% jitter so
// retries of many jobs do not march in step.
func ExponentialBackoff(base, max time.Duration) func(int) time.Duration {
	return func(attempts int) time.Duration {
		d := base
		for i := 1; i < attempts && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
		return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	}
}

// Run starts the workers and schedules and blocks until ctx ends, then
// waits for running handlers to return. Jobs a stopped handler did not
// finish stay leased until their lease expires and are then redone.
func (r *Runner) Run(ctx context.Context) {
	r.mu.Lock()
	r.started = true
	kinds := make(map[string]Kind, len(r.kinds))
	for n, k := range r.kinds {
		kinds[n] = k
	}
	schedules := append([]schedule(nil), r.schedules...)
	r.mu.Unlock()

	var wg sync.WaitGroup
	for name, k := range kinds {
		for range k.Workers {
			wg.Go(func() { r.work(ctx, name, k) })
		}
	}
	for _, s := range schedules {
		wg.Go(func() { r.tick(ctx, s) })
	}
	wg.Wait()
}

func (r *Runner) work(ctx context.Context, kind string, k Kind) {
	for ctx.Err() == nil {
		woken := r.q.woken()
		j, err := r.q.Claim(ctx, kind, k.Lease)
		if err != nil && ctx.Err() == nil {
			r.log.Error("claim job", "kind", kind, "err", err)
		}
		if j != nil {
			r.run(ctx, k, j)
			continue
		}
		t := time.NewTimer(r.poll)
		select {
		case <-ctx.Done():
		case <-woken:
		case <-t.C:
		}
		t.Stop()
	}
}

// run executes one claimed job, renewing its lease meanwhile, and records
// the outcome.
func (r *Runner) run(ctx context.Context, k Kind, j *Job) {
	start := time.Now()
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(k.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-jctx.Done():
				return
			case <-t.C:
				if err := r.q.Extend(jctx, j, k.Lease); err != nil {
					if jctx.Err() == nil {
						r.log.Warn("job lease lost; stopping it", "kind", j.Kind, "job", j.ID, "err", err)
					}
					cancel()
					return
				}
			}
		}
	}()
	err := safeCall(jctx, k.Handler, j)
	cancel()
	<-renewed
	took := time.Since(start)
	// The outcome is recorded even if the handler's context was cut.
	octx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: hand the job back for another worker or the next
		// start. Should that fail, the lease expires and it is redone.
		if rerr := r.q.Release(octx, j); rerr != nil {
			r.log.Warn("release job", "kind", j.Kind, "job", j.ID, "err", rerr)
		}
	case err == nil:
		if cerr := r.q.Complete(octx, j); cerr != nil {
			r.log.Warn("complete job", "kind", j.Kind, "job", j.ID, "err", cerr)
		}
		r.observe(j.Kind, "success", took)
	case errors.As(err, new(*permanentError)):
		r.log.Error("job failed", "kind", j.Kind, "job", j.ID, "attempt", j.Attempts, "err", err)
		if ferr := r.q.Fail(octx, j, err); ferr != nil {
			r.log.Warn("record failed job", "kind", j.Kind, "job", j.ID, "err", ferr)
		}
		r.observe(j.Kind, "failed", took)
	default:
		delay := k.Backoff(j.Attempts)
		again, rerr := r.q.Retry(octx, j, err, r.q.now().Add(delay))
		if again && rerr == nil {
			// Idle workers here wake for it rather than wait for a poll.
			time.AfterFunc(delay, r.q.Wake)
		}
		if rerr != nil {
			r.log.Warn("record job retry", "kind", j.Kind, "job", j.ID, "err", rerr)
		}
		outcome := "retry"
		if !again {
			outcome = "failed"
			r.log.Error("job failed; out of attempts", "kind", j.Kind, "job", j.ID, "attempts", j.Attempts, "err", err)
		} else {
			r.log.Warn("job failed; will retry", "kind", j.Kind, "job", j.ID, "attempt", j.Attempts, "err", err)
		}
		r.observe(j.Kind, outcome, took)
	}
}

// safeCall runs h, turning a panic into an error so one bad job cannot
// take the server down.
func safeCall(ctx context.Context, h Handler, j *Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job handler panicked: %v", p)
		}
	}()
	return h(ctx, j)
}

// tick checks a schedule about once a second, or every period if that is
// shorter, and enqueues its run when this replica claims the period.
func (r *Runner) tick(ctx context.Context, s schedule) {
	t := time.NewTicker(min(s.every, time.Second))
	defer t.Stop()
	for {
		due, err := r.q.due(ctx, s.name, s.every)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Error("periodic job schedule", "schedule", s.name, "err", err)
		case due:
			if _, _, err := r.q.Enqueue(ctx, s.job); err != nil && ctx.Err() == nil {
				r.log.Error("enqueue periodic job", "schedule", s.name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
