package node

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/node/httpapi"
)

// Every metric a node exports is defined in this file, apart from those of
// the homeserver authenticator (presenced_auth_homeserver_lookups_total,
// presenced_auth_cache_total), which it owns and which are registered here
// too. They go on the Registerer the node is given, never on a global one,
// so that several nodes can live in one process. Gauges read the state of
// the projection and the store when scraped: nothing on the hot path.

// newAPIMetrics defines the metrics the HTTP API records into.
func newAPIMetrics() httpapi.Metrics {
	return httpapi.Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_http_requests_total",
			Help: "HTTP requests answered, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "presenced_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route and method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		Publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_publish_total",
			Help: "Presence events published to JetStream, by result (ok, error).",
		}, []string{"result"}),
		PublishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_publish_duration_seconds",
			Help:    "Time from publish to JetStream acknowledgement, retries included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_rejected_requests_total",
			Help: "Requests refused by a limit, by reason (busy, headers_too_large, put_rate, auth_failures).",
		}, []string{"reason"}),
		FleetCommands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_fleet_commands_total",
			Help: "Commands of the internal API by command (sync, active, federation) and result " +
				"(stored; absorbed: nothing a reader sees changed, no event stored; busy; error).",
		}, []string{"command", "result"}),
		MirrorSyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_mirror_syncs_total",
			Help: "Copies of client /sync requests from the reverse proxy, by result (recorded, unauthenticated).",
		}, []string{"result"}),
		FederationItems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_federation_items_total",
			Help: "m.presence EDU items received through the internal API, by result (accepted, rejected).",
		}, []string{"result"}),
	}
}

// stateMetrics defines the gauges and counters read from the projection,
// the store and the node's readiness when scraped.
func (n *Node) stateMetrics() []prometheus.Collector {
	return []prometheus.Collector{
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
		}, func() float64 { return float64(n.store.ConsumerRestarts()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_ready",
			Help: "1 when the node is connected to NATS and caught up with the stream.",
		}, func() float64 { return boolFloat(n.Ready()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_nats_connected",
			Help: "1 when the node's NATS connection is up.",
		}, func() float64 { return boolFloat(n.store.Connected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_projection_staleness_seconds",
			Help: "Time since this node's projection was last known to hold every event in the stream. " +
				"It grows while the node is cut off from NATS or behind; GETs answer from that older state.",
		}, func() float64 { return n.store.Staleness().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_stream_last_sequence",
			Help: "The stream's last sequence, as this node last read it.",
		}, func() float64 { return float64(n.store.KnownLastSeq()) }),
	}
}

// registerMetrics registers every metric of the node, and the
// authenticator's if it has any.
func (n *Node) registerMetrics(m httpapi.Metrics) error {
	cs := []prometheus.Collector{m.Requests, m.RequestDuration, m.Publishes, m.PublishDuration}
	cs = append(cs, n.stateMetrics()...)
	cs = append(cs, m.Rejected, m.FleetCommands, m.MirrorSyncs, m.FederationItems)
	if n.fleet != nil {
		cs = append(cs, n.fleet.transitions)
	}
	for _, c := range cs {
		if err := n.reg.Register(c); err != nil {
			return err
		}
	}
	if a, ok := n.auth.(interface{ Collectors() []prometheus.Collector }); ok {
		for _, c := range a.Collectors() {
			if err := n.reg.Register(c); err != nil {
				var already prometheus.AlreadyRegisteredError
				if errors.As(err, &already) {
					continue // an authenticator shared by nodes on one registry
				}
				return err
			}
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
