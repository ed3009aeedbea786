package node

import (
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/httpapi"
	"github.com/presenced/presenced/node/reqmetrics"
	"github.com/presenced/presenced/projection"
)

// Every metric a node exports is defined in this file, apart from those of
// the homeserver authenticator (presenced_auth_homeserver_lookups_total,
// presenced_auth_cache_total), which it owns and which are registered here
// too. They go on the Registerer the node is given, never on a global one,
// so that several nodes can live in one process. Gauges read the state of
// the projection and the store when scraped: nothing on the hot path.
//
// Every labelled counter starts with each of its known label values at
// zero, so that an alert on rate(...{result="error"}) is not blind until the
// first error happens.

// newAPIMetrics defines the metrics the HTTP API records into, with every
// known label value at zero.
func newAPIMetrics() httpapi.Metrics {
	m := defineAPIMetrics()
	zero := func(vec *prometheus.CounterVec, values ...string) {
		for _, v := range values {
			vec.WithLabelValues(v)
		}
	}
	zero(m.Publishes, "ok", "error")
	zero(m.Rejected, "busy", "headers_too_large", "put_rate", "auth_failures")
	zero(m.MirrorSyncs, "recorded", "unauthenticated")
	zero(m.FederationItems, "accepted", "rejected")
	for _, command := range []string{"sync", "active", "federation"} {
		zero(m.FleetCommands.MustCurryWith(prometheus.Labels{"command": command}), "stored", "absorbed", "busy", "error")
	}
	return m
}

// defineAPIMetrics defines the HTTP API's metrics, without any series.
func defineAPIMetrics() httpapi.Metrics {
	return httpapi.Metrics{
		Requests: reqmetrics.New(
			"presenced_http_requests_total", "HTTP requests answered, by route, method and status code.",
			"presenced_http_request_duration_seconds", "Time to answer an HTTP request, by route and method.",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}),
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

// buildInfo is presenced_build_info: 1, labelled with the version the
// command was built as (Options.Version) and the Go release.
func buildInfo(version string) prometheus.Collector {
	if version == "" {
		version = "unknown"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "presenced_build_info",
		Help:        "Always 1; its labels say which build runs: the presenced version and the Go release.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// httpGauges are the client listener's gauges: requests in flight and open
// connections, each beside its cap (0: no cap).
func (n *Node) httpGauges(inFlight, openConns func() int64) []prometheus.Collector {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	return []prometheus.Collector{
		gauge("presenced_http_in_flight_requests", "Client API requests being served (probes and /metrics not counted).",
			func() float64 { return float64(inFlight()) }),
		gauge("presenced_http_max_in_flight_requests", "--max-in-flight: client API requests served at once before 503 (0: no cap).",
			func() float64 { return float64(n.cfg.HTTP.MaxInFlight) }),
		gauge("presenced_http_open_connections", "Connections open on the client listener.",
			func() float64 { return float64(openConns()) }),
		gauge("presenced_http_max_connections", "--max-connections: connections the client listener keeps open at once (0: no cap).",
			func() float64 { return float64(n.cfg.HTTP.MaxConnections) }),
	}
}

// stateMetrics defines the gauges and counters read from the projection,
// the store and the node's readiness when scraped.
func (n *Node) stateMetrics() []prometheus.Collector {
	return []prometheus.Collector{
		newSequences(n.proj, n.store),
		newUsersByState(n.proj, n.clock, n.decay()),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_replay_duration_seconds",
			Help: "How long the start-up replay of the stream took to catch up (0 until it has).",
		}, func() float64 { return n.store.ReplayDuration().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presenced_projection_users",
			Help: "Users with a presence state in this node's projection.",
		}, func() float64 { return float64(n.proj.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_projection_unknown_version_events_total",
			Help: "Events skipped because their schema version is newer than this build.",
		}, func() float64 { u, _ := n.proj.Counters(); return float64(u) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presenced_projection_malformed_events_total",
			Help: "Events skipped because they could not be decoded.",
		}, func() float64 { _, m := n.proj.Counters(); return float64(m) }),
		publishConfirmations("echo", func() uint64 { e, _ := n.store.PublishConfirmations(); return e }),
		publishConfirmations("ack", func() uint64 { _, a := n.store.PublishConfirmations(); return a }),
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
	}
}

// registerMetrics registers every metric of the node, and the
// authenticator's if it has any. inFlight and openConns count the client
// listener's requests and connections.
func (n *Node) registerMetrics(m httpapi.Metrics, inFlight, openConns func() int64) error {
	cs := []prometheus.Collector{buildInfo(n.version), m.Requests, m.Publishes, m.PublishDuration}
	cs = append(cs, n.httpGauges(inFlight, openConns)...)
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

// sequences exports presenced_projection_applied_sequence and
// presenced_stream_last_sequence from one reading, so that their difference
// (the lag in messages) is never negative: the applied sequence is read
// first, and the stream's last sequence is reported as at least that.
type sequences struct {
	applied, last *prometheus.Desc
	proj          interface{ AppliedSeq() uint64 }
	store         interface{ StreamLastSeq() uint64 }
}

func newSequences(proj interface{ AppliedSeq() uint64 }, store interface{ StreamLastSeq() uint64 }) *sequences {
	return &sequences{
		applied: prometheus.NewDesc("presenced_projection_applied_sequence",
			"Highest stream sequence this node's projection has applied.", nil, nil),
		last: prometheus.NewDesc("presenced_stream_last_sequence",
			"The stream's last sequence as this node last read it; never below presenced_projection_applied_sequence.", nil, nil),
		proj:  proj,
		store: store,
	}
}

func (s *sequences) Describe(ch chan<- *prometheus.Desc) { ch <- s.applied; ch <- s.last }

func (s *sequences) Collect(ch chan<- prometheus.Metric) {
	applied := s.proj.AppliedSeq()
	last := max(s.store.StreamLastSeq(), applied)
	ch <- prometheus.MustNewConstMetric(s.applied, prometheus.GaugeValue, float64(applied))
	ch <- prometheus.MustNewConstMetric(s.last, prometheus.GaugeValue, float64(last))
}

// usersByStateTTL is how long a count of users by state is reused at
// least. The count scans the whole projection (see usersByState), so
// scrapes closer together than this, from several Prometheus servers say,
// share one scan; a count that took longer than a twentieth of it is reused
// for twenty times its duration, so that counting never takes more than 5 %
// of a core however large the projection.
const usersByStateTTL = 5 * time.Second

// usersByState exports presenced_projection_users_by_state: the users of
// the projection by the state a GET would answer for them now, decay
// applied at the node's clock. Nothing tracks that as events arrive (decay
// happens without events), so a scrape counts: it visits every user, read-
// locking one shard of the projection at a time, which takes about 250 ms
// per million users on one core (BenchmarkUsersByState). A count is reused
// for usersByStateTTL of wall-clock time, or longer for a slow count.
type usersByState struct {
	desc  *prometheus.Desc
	proj  *projection.Projection
	clock Clock
	pol   projection.Policy

	mu      sync.Mutex // held while counting: concurrent scrapes wait for one count
	counted time.Time  // wall clock of the last count
	reuse   time.Duration
	counts  [3]float64 // online, unavailable, offline
}

func newUsersByState(proj *projection.Projection, clock Clock, pol projection.Policy) *usersByState {
	return &usersByState{
		desc: prometheus.NewDesc("presenced_projection_users_by_state",
			"Users in this node's projection by the state a GET answers now (decay applied); recounted at most every 5 s, or every 20 counts' durations when longer.",
			[]string{"state"}, nil),
		proj: proj, clock: clock, pol: pol,
	}
}

func (u *usersByState) Describe(ch chan<- *prometheus.Desc) { ch <- u.desc }

func (u *usersByState) Collect(ch chan<- prometheus.Metric) {
	u.mu.Lock()
	if u.counted.IsZero() || time.Since(u.counted) >= u.reuse {
		start := time.Now()
		u.counts = countByState(u.proj, u.clock.Now(), u.pol)
		u.counted = time.Now()
		u.reuse = max(usersByStateTTL, 20*u.counted.Sub(start))
	}
	counts := u.counts
	u.mu.Unlock()
	for i, st := range [3]events.Presence{events.Online, events.Unavailable, events.Offline} {
		ch <- prometheus.MustNewConstMetric(u.desc, prometheus.GaugeValue, counts[i], string(st))
	}
}

// countByState counts the users of proj by their state at now.
func countByState(proj *projection.Projection, now time.Time, pol projection.Policy) [3]float64 {
	var counts [3]float64
	proj.Range(func(r projection.Record) bool {
		switch r.StatusAt(now, pol).Presence {
		case events.Online:
			counts[0]++
		case events.Unavailable:
			counts[1]++
		default:
			counts[2]++
		}
		return true
	})
	return counts
}

// publishConfirmations is presenced_publish_confirmations_total for one
// way of confirming a PUT's event stored.
func publishConfirmations(by string, count func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "presenced_publish_confirmations_total",
		Help: "PUT events confirmed stored, by how: echo (delivered back to this node) or ack " +
			"(the stream's acknowledgement, asked for when the echo is late).",
		ConstLabels: prometheus.Labels{"by": by},
	}, func() float64 { return float64(count()) })
}
