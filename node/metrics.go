package node

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's own Prometheus metrics. They are registered on the
// Registerer the node is given, never on a global one, so that several nodes
// can live in one process.
type metrics struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	publishes       *prometheus.CounterVec
	publishDuration prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_http_requests_total",
			Help: "HTTP requests answered, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "presenced_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route and method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_publish_total",
			Help: "Presence events published to JetStream, by result (ok, error).",
		}, []string{"result"}),
		publishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_publish_duration_seconds",
			Help:    "Time from publish to JetStream acknowledgement, retries included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.requestDuration, m.publishes, m.publishDuration}
}
