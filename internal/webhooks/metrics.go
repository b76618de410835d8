package webhooks

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count delivery attempts; a nil *metrics records nothing.
type metrics struct {
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_webhook_deliveries_total",
			Help: "Webhook delivery attempts, by outcome (delivered, retrying, failed).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moat_webhook_delivery_duration_seconds",
			Help: "Time from sending a webhook request to its response or error, by outcome.",
			// From a receiver on the same host to the 10 s timeout.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"outcome"}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	return errors.Join(reg.Register(m.attempts), reg.Register(m.latency))
}

func (m *metrics) observe(outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(outcome).Inc()
	m.latency.WithLabelValues(outcome).Observe(took.Seconds())
}
