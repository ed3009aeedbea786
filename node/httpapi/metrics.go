package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/node/reqmetrics"
)

// Metrics are the collectors the API records into. They are defined and
// registered by the node, with every other metric, in node/metrics.go.
type Metrics struct {
	// Requests counts answers by route, method and code, and observes
	// their time by route and method, in shards (reqmetrics).
	Requests *reqmetrics.Metrics
	// Publishes counts PUT publishes by result (ok, error); PublishDuration
	// observes the time to JetStream's acknowledgement.
	Publishes       *prometheus.CounterVec
	PublishDuration prometheus.Histogram
	// Rejected counts requests refused by a limit, by reason.
	Rejected *prometheus.CounterVec
	// FleetCommands counts the internal API's commands by command (sync,
	// active, federation, put) and result (stored, absorbed, busy, error);
	// MirrorSyncs the proxy's /sync copies by result; FederationItems the
	// EDU items received by result (accepted, rejected).
	FleetCommands   *prometheus.CounterVec
	MirrorSyncs     *prometheus.CounterVec
	FederationItems *prometheus.CounterVec
}
