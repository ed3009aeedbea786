package store

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lagMonitor keeps track of how current the projection is. It asks the
// stream for its last sequence every interval (one small request to the
// stream leader) and records the latest time at which the projection was
// known to hold everything the stream held. From that it derives:
//
//   - staleness: how long ago the projection was last known to be current.
//     While the node is cut off from NATS it grows, and GETs are answered
//     from the state of that moment;
//   - behind: staleness above maxLag, which makes the node not ready;
//   - stall: the stream is ahead, nothing has arrived for stallAfter, so the
//     consumer is replaced (the follower's own recovery missed something).
type lagMonitor struct {
	js       jetstream.JetStream
	stream   string
	f        *follower
	interval time.Duration
	maxLag   time.Duration
	// stallAfter is how long the projection may sit behind the stream with no
	// message arriving before the consumer is replaced.
	stallAfter time.Duration
	start      time.Time

	lastSeq       atomic.Uint64 // the stream's last sequence when last asked
	lastOK        atomic.Int64  // unix nanos of the last answer from a stream with quorum
	noQuorumSince atomic.Int64  // unix nanos since when answers say the stream has no quorum (0: it has)
	pending       struct {      // a target not yet reached (only the run goroutine uses it)
		seq uint64
		at  time.Time
	}
	// progress is the applied sequence when last seen to move (only the run
	// goroutine uses it): the follower keeps no clock per message, which a
	// replay of millions would pay for.
	progress struct {
		seq uint64
		at  time.Time
	}
}

// newLagMonitor watches f against the stream of cfg, whose ReadyMaxLag is
// positive (Config.Validate).
func newLagMonitor(js jetstream.JetStream, cfg *Config, f *follower) *lagMonitor {
	maxLag := cfg.ReadyMaxLag
	return &lagMonitor{
		js:         js,
		stream:     cfg.Stream,
		f:          f,
		interval:   min(max(maxLag/10, 50*time.Millisecond), time.Second),
		maxLag:     maxLag,
		stallAfter: max(3*time.Second, 2*f.pullExpiry),
		start:      time.Now(),
	}
}

// run checks until ctx ends.
func (m *lagMonitor) run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check asks the stream for its last sequence and compares.
func (m *lagMonitor) check(ctx context.Context) {
	asOf := time.Now()
	last, quorum, err := streamState(ctx, m.js, m.stream)
	if err != nil {
		return // staleness grows; readiness follows it
	}
	applied := m.f.proj.AppliedSeq()
	if applied != m.progress.seq || m.progress.at.IsZero() {
		m.progress.seq, m.progress.at = applied, asOf
	}
	// The stream's answer may predate events the follower applied since it
	// was sent; a last sequence below the applied one would be a negative
	// lag. The applied sequence, read after the answer, is a lower bound.
	m.lastSeq.Store(max(last, applied))
	if quorum {
		m.lastOK.Store(time.Now().UnixNano())
		m.noQuorumSince.Store(0)
	} else {
		m.noQuorumSince.CompareAndSwap(0, asOf.UnixNano())
	}
	if m.pending.seq != 0 && applied >= m.pending.seq {
		m.f.markCurrent(m.pending.at)
		m.pending.seq = 0
	}
	if applied >= last {
		m.f.markCurrent(asOf)
		m.pending.seq = 0
		return
	}
	if m.pending.seq == 0 {
		m.pending.seq, m.pending.at = last, asOf
	}
	quiet := m.progress.at
	if c := time.Unix(0, m.f.consumerAt.Load()); c.After(quiet) {
		quiet = c
	}
	if time.Since(quiet) > m.stallAfter {
		m.f.replaceStalled(last)
	}
}

// replayDuration is how long the follower took from its start to the end
// of the stream's replay (0 until then).
func (m *lagMonitor) replayDuration() time.Duration {
	at := m.f.caughtUpAt.Load()
	if at == 0 {
		return 0
	}
	return max(time.Unix(0, at).Sub(m.start), 0)
}

// staleness is how long ago the projection was last known to hold
// everything the stream held (since start, before that).
func (m *lagMonitor) staleness() time.Duration {
	at := m.f.current.Load()
	if at == 0 {
		return time.Since(m.start)
	}
	return max(time.Since(time.Unix(0, at)), 0)
}

// storeDownAfter is how long the stream may go without answering the
// monitor before publishes fail at once instead of waiting for a timeout.
const storeDownAfter = 2 * time.Second

// noQuorumAfter is how long the stream leader must keep reporting too few
// replicas online before publishes fail at once. A brief report of that kind
// is normal while a new stream's replicas join.
const noQuorumAfter = time.Second

// storeDown reports whether the stream's leader has said for noQuorumAfter
// that it has no quorum, or the stream has not answered the monitor for
// storeDownAfter: it has no leader, or this node cannot reach NATS.
func (m *lagMonitor) storeDown() bool {
	if since := m.noQuorumSince.Load(); since != 0 && time.Since(time.Unix(0, since)) > noQuorumAfter {
		return true
	}
	last := m.lastOK.Load()
	if last == 0 {
		return false // not asked yet: let the publish find out
	}
	return time.Since(time.Unix(0, last)) > storeDownAfter
}

// behind reports whether the projection is too far behind the stream to
// call the node ready.
func (m *lagMonitor) behind() bool { return m.staleness() > m.maxLag }
