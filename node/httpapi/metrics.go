package httpapi

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the collectors the API records into. They are defined and
// registered by the node, with every other metric, in node/metrics.go.
type Metrics struct {
	// Requests counts answers by route, method and code; RequestDuration
	// observes their time by route and method.
	Requests        *prometheus.CounterVec
	RequestDuration *prometheus.HistogramVec
	// Publishes counts PUT publishes by result (ok, error); PublishDuration
	// observes the time to JetStream's acknowledgement.
	Publishes       *prometheus.CounterVec
	PublishDuration prometheus.Histogram
	// Rejected counts requests refused by a limit, by reason.
	Rejected *prometheus.CounterVec
}
