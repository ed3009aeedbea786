package node

import (
	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics registers the node's metrics, including gauges that read
// the projection and connection state when scraped (nothing on the hot path).
func (n *Node) registerMetrics() error {
	cs := n.metrics.collectors()
	cs = append(cs,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_projection_users",
			Help: "Users with a presence state in this node's projection.",
		}, func() float64 { return float64(n.proj.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_projection_applied_sequence",
			Help: "Highest stream sequence this node's projection has applied.",
		}, func() float64 { return float64(n.proj.AppliedSeq()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_projection_unknown_version_events_total",
			Help: "Events skipped because their schema version is newer than this build.",
		}, func() float64 { u, _ := n.proj.Counters(); return float64(u) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_projection_malformed_events_total",
			Help: "Events skipped because they could not be decoded.",
		}, func() float64 { _, m := n.proj.Counters(); return float64(m) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_consumer_restarts_total",
			Help: "Times the stream consumer was recreated after a failure.",
		}, func() float64 { return float64(n.follower.restarts.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_ready",
			Help: "1 when the node is connected to NATS and caught up with the stream.",
		}, func() float64 { return boolFloat(n.Ready()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_nats_connected",
			Help: "1 when the node's NATS connection is up.",
		}, func() float64 { return boolFloat(n.nc.IsConnected()) }),
	)
	for _, c := range cs {
		if err := n.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
