package bridge

import "github.com/prometheus/client_golang/prometheus"

// metrics of one bridge, registered on the registry it was given.
type metrics struct {
	leader          prometheus.Gauge
	published       prometheus.Counter
	consumed        prometheus.Counter
	unconfirmed     prometheus.Counter
	deliverySeconds prometheus.Histogram
	feedErrors      prometheus.Counter
	feedResets      prometheus.Counter
	positionCommits prometheus.Counter
	forwarded       prometheus.Counter
	forwardAccepted prometheus.Counter
	forwardRejected prometheus.Counter
	forwardErrors   prometheus.Counter
	skipped         *prometheus.CounterVec
	leaseAcquired   prometheus.Counter
	leaseLost       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns = "presence_dendrite"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help})
	}
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "leader",
			Help: "1 while this replica holds the publisher lease, else 0."}),
		published:   counter("published_total", "Changes published to Dendrite's presence subject."),
		consumed:    counter("consumed_total", "Published changes that Dendrite's sync consumer acknowledged."),
		unconfirmed: counter("unconfirmed_batches_total", "Feed pages whose publications Dendrite did not acknowledge in time (or whose consumer changed); the page is read and published again."),
		deliverySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "delivery_seconds",
			Help:    "Time from the first publish of a feed page to Dendrite's acknowledgement of its last change.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		feedErrors:      counter("feed_errors_total", "Failed requests to presenced's change feed."),
		feedResets:      counter("feed_resets_total", "Change feed answers saying the stored position is not one the feed produced."),
		positionCommits: counter("position_commits_total", "Feed positions stored in the KV bucket."),
		forwarded:       counter("forwarded_total", "Inbound federation presence items sent to presenced's federation ingest."),
		forwardAccepted: counter("forward_accepted_total", "Forwarded items presenced accepted."),
		forwardRejected: counter("forward_rejected_total", "Forwarded items presenced rejected."),
		forwardErrors:   counter("forward_errors_total", "Failed requests to presenced's federation ingest (the messages are redelivered)."),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "skipped_total",
			Help: "Messages on the presence subject not forwarded, by reason: own (published by a bridge), from_sync (Dendrite's own sync updates), malformed."},
			[]string{"reason"}),
		leaseAcquired: counter("lease_acquired_total", "Times this replica took the publisher lease."),
		leaseLost:     counter("lease_lost_total", "Times this replica lost the publisher lease other than by shutting down."),
	}
	for _, r := range []skipReason{skipOwn, skipFromSync, skipMalformed} {
		m.skipped.WithLabelValues(string(r))
	}
	reg.MustRegister(m.leader, m.published, m.consumed, m.unconfirmed, m.deliverySeconds, m.feedErrors,
		m.feedResets, m.positionCommits, m.forwarded, m.forwardAccepted, m.forwardRejected, m.forwardErrors,
		m.skipped, m.leaseAcquired, m.leaseLost)
	return m
}
