package scanning

import "github.com/prometheus/client_golang/prometheus"

// metrics are the scanning figures /metrics shows.
type metrics struct {
	scans         *prometheus.CounterVec
	scanSeconds   prometheus.Histogram
	rescanSeconds prometheus.Histogram
	rescanned     prometheus.Counter
	gate          *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_scans_total", Help: "Image scans by final status (COMPLETE, FAILED, UNSUPPORTED).",
		}, []string{"status"}),
		scanSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "moat_scan_duration_seconds", Help: "Time to scan one image: read, catalog, match, record.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		rescanSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "moat_rescan_duration_seconds", Help: "Time to re-evaluate the images an advisory update affects.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}),
		rescanned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "moat_rescanned_images_total", Help: "Stored inventories re-matched after advisory updates (no layer read).",
		}),
		gate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_pull_gate_refusals_total", Help: "Manifest pulls a pull gate refused (denied) or let through for an exempt caller (bypassed).",
		}, []string{"outcome"}),
	}
}

// Collectors are the service's metrics, for the composition root to
// register.
func (s *Service) Collectors() []prometheus.Collector {
	m := s.metrics
	return []prometheus.Collector{m.scans, m.scanSeconds, m.rescanSeconds, m.rescanned, m.gate}
}
