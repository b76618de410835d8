package webhooks

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Option configures New.
type Option func(*Service) error

// WithSource sets the CloudEvents source attribute of every event: the
// registry's URL, as receivers know it. Default "moat".
func WithSource(source string) Option {
	return func(s *Service) error {
		if _, err := url.Parse(source); err != nil || source == "" {
			return fmt.Errorf("%w: source %q: want a URI reference such as https://registry.example", ErrInvalid, source)
		}
		s.source = source
		return nil
	}
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) error {
		if l == nil {
			return errors.New("webhooks: nil logger")
		}
		s.log = l
		return nil
	}
}

// WithTimeout bounds one delivery attempt, from connecting to reading
// the response. Default 10 s.
func WithTimeout(d time.Duration) Option {
	return func(s *Service) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v must be positive", ErrInvalid, d)
		}
		s.client.Timeout = d
		return nil
	}
}

// WithRetryWindow sets how long after an event its deliveries are
// retried before they end as failed. Default 24 h.
func WithRetryWindow(d time.Duration) Option {
	return func(s *Service) error {
		if d <= 0 {
			return fmt.Errorf("%w: retry window %v must be positive", ErrInvalid, d)
		}
		s.window = d
		return nil
	}
}

// WithBackoff sets the delay before attempt n+1 after n failed attempts;
// a longer Retry-After from the receiver wins. Default: 30 s doubling up
// to 1 h, ±20% jitter.
func WithBackoff(fn func(attempts int) time.Duration) Option {
	return func(s *Service) error {
		if fn == nil {
			return errors.New("webhooks: nil backoff")
		}
		s.backoff = fn
		return nil
	}
}

// WithRetention sets how long the delivery log and the rendered events
// are kept; Purge deletes older ones. It must exceed the retry window.
// Default 14 days.
func WithRetention(d time.Duration) Option {
	return func(s *Service) error {
		s.retention = d
		return nil
	}
}

// WithWorkers sets how many deliveries run at once in this process.
// Default 4.
func WithWorkers(n int) Option {
	return func(s *Service) error {
		if n < 1 {
			return fmt.Errorf("%w: workers %d < 1", ErrInvalid, n)
		}
		s.workers = n
		return nil
	}
}

// WithMetrics registers on reg, and keeps up to date:
//
//	moat_webhook_deliveries_total{outcome}            attempts by outcome
//	moat_webhook_delivery_duration_seconds{outcome}   attempt latency
//
// outcome is delivered, retrying or failed. Default: no metrics.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(s *Service) error {
		if reg == nil {
			return errors.New("webhooks: nil registerer")
		}
		m := newMetrics()
		if err := m.register(reg); err != nil {
			return fmt.Errorf("webhooks: register metrics: %w", err)
		}
		s.metrics = m
		return nil
	}
}

// WithClock sets the clock of the log, the retry schedule and Purge.
// Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Service) error {
		if now == nil {
			return errors.New("webhooks: nil clock")
		}
		s.now = now
		return nil
	}
}
