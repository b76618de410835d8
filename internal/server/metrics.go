package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's own collectors, registered in the registry the
// server was given (never the process-wide default registry).
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	bytesIn      *prometheus.CounterVec
	bytesOut     *prometheus.CounterVec
	inFlight     *prometheus.GaugeVec
	uploads      prometheus.Gauge
	panics       prometheus.Counter
	taskRuns     *prometheus.CounterVec
	taskDuration *prometheus.HistogramVec
	taskLastSucc *prometheus.GaugeVec
	ready        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_http_requests_total",
			Help: "HTTP requests served, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moat_http_request_duration_seconds",
			Help: "Time from request start to the last byte of the response, by route template and method.",
			// From sub-millisecond manifest hits to minutes-long layer pushes.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"route", "method"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_http_request_bytes_total",
			Help: "Request body bytes received, by route template.",
		}, []string{"route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_http_response_bytes_total",
			Help: "Response body bytes sent, by route template.",
		}, []string{"route"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "moat_http_requests_in_flight",
			Help: "Requests being served, by route template.",
		}, []string{"route"}),
		uploads: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "moat_uploads_in_progress",
			Help: "Blob upload requests (POST, PATCH, PUT on upload sessions) currently transferring.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "moat_http_panics_total",
			Help: "Handler panics recovered.",
		}),
		taskRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_task_runs_total",
			Help: "Background task runs, by task and result (ok or error).",
		}, []string{"task", "result"}),
		taskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "moat_task_duration_seconds",
			Help:    "Background task run time, by task.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"task"}),
		taskLastSucc: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "moat_task_last_success_timestamp_seconds",
			Help: "Unix time of the last successful run, by task.",
		}, []string{"task"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "moat_ready",
			Help: "1 when the last readiness check passed, 0 otherwise.",
		}),
	}
	cs := []prometheus.Collector{
		m.requests, m.duration, m.bytesIn, m.bytesOut, m.inFlight, m.uploads,
		m.panics, m.taskRuns, m.taskDuration, m.taskLastSucc, m.ready,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observeRequest(route, method string, code int, in, out int64, d time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
	if in > 0 {
		m.bytesIn.WithLabelValues(route).Add(float64(in))
	}
	if out > 0 {
		m.bytesOut.WithLabelValues(route).Add(float64(out))
	}
}
