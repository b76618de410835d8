package jobs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector reports the queue's depth per kind and state at scrape time,
// and Observer feeds a run counter and duration histogram: the figures
// /metrics shows for durable work.
type Collector struct {
	q     *Queue
	depth *prometheus.Desc
	runs  *prometheus.CounterVec
	took  *prometheus.HistogramVec
}

// NewCollector returns the queue's metrics.
func NewCollector(q *Queue) *Collector {
	return &Collector{
		q:     q,
		depth: prometheus.NewDesc("moat_jobs", "Jobs in the durable queue by kind and state (queued, running, failed).", []string{"kind", "state"}, nil),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_job_runs_total", Help: "Job runs by kind and outcome (success, retry, failed).",
		}, []string{"kind", "outcome"}),
		took: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moat_job_duration_seconds", Help: "Job run time by kind.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}, []string{"kind"}),
	}
}

// Observer is the runner option that counts runs.
func (c *Collector) Observer() Observer {
	return func(kind, outcome string, took time.Duration) {
		c.runs.WithLabelValues(kind, outcome).Inc()
		c.took.WithLabelValues(kind).Observe(took.Seconds())
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	c.runs.Describe(ch)
	c.took.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.runs.Collect(ch)
	c.took.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.q.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n.N), n.Kind, n.State)
	}
}
