// Package store is the node's side of NATS JetStream: the connection (to an
// embedded server on a locked data directory, or to external servers), the
// stream and its reconciliation, the publisher, the follower that feeds an
// Applier from the stream, the waiter for applied sequences and the lag
// monitor. It returns plain errors; what a client is told is decided by
// node/httpapi.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
)

// ErrNotConnected fails a publish or a read of the stream at once while the
// node has no NATS connection: the client gets a 503 and retries, rather than
// waiting out a timeout behind a connection that may take long to come back.
var ErrNotConnected = errors.New("not connected to NATS")

// Options are the store's collaborators.
type Options struct {
	// Name names the node: its NATS connection and embedded server.
	Name string
	// Logger receives the store's logs (default: discard).
	Logger *slog.Logger
}

// Store is an open connection to the stream. Open connects and makes sure
// the stream exists; Follow starts feeding an Applier; Close stops
// everything Open and Follow started.
type Store struct {
	cfg Config
	log *slog.Logger

	embedded *embeddedServer
	nc       *nats.Conn
	js       jetstream.JetStream
	// msgs is how many messages the stream held when it was opened.
	msgs uint64
	// epoch is the stream's creation time (Unix nanoseconds): it tells a
	// stream from one recreated or restored under the same name, whose
	// sequences mean other events.
	epoch uint64

	pub      *publisher
	waiter   *Waiter
	follower *follower
	monitor  *lagMonitor
	barrier  *readBarrier

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Open starts the embedded server (when cfg names no external NATS),
// connects, waits for JetStream and creates or reconciles the stream. cfg
// is assumed valid (Config.Validate). On error everything opened is closed.
func Open(ctx context.Context, cfg Config, o Options) (_ *Store, err error) {
	s := &Store{cfg: cfg, log: o.Logger, waiter: NewWaiter()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			s.closeNATS()
		}
	}()
	if len(cfg.NATSURLs) == 0 {
		if s.embedded, err = startEmbedded(cfg.DataDir, o.Name, s.log); err != nil {
			return nil, err
		}
	}
	var srv *server.Server
	if s.embedded != nil {
		srv = s.embedded.Server
	}
	if s.nc, err = connect(&s.cfg, o.Name, srv, s.log); err != nil {
		return nil, err
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return nil, fmt.Errorf("JetStream: %w", err)
	}
	if err = waitForJetStream(ctx, s.js); err != nil {
		return nil, err
	}
	stream, err := ensureStream(ctx, s.js, &s.cfg, s.log)
	if err != nil {
		return nil, err
	}
	info := stream.CachedInfo()
	s.msgs = info.State.Msgs
	s.epoch = uint64(max(info.Created.UnixNano(), 0))
	s.barrier = newReadBarrier(s.js, &s.cfg)
	s.pub = &publisher{nc: s.nc, js: s.js, stream: cfg.Stream, subjectPrefix: cfg.SubjectPrefix, timeout: cfg.PublishTimeout,
		echoes: newEchoes()}
	return s, nil
}

// Messages is how many messages the stream held when it was opened: the
// size to give a projection that is about to replay it.
func (s *Store) Messages() uint64 { return s.msgs }

// Epoch is the stream's creation time in Unix nanoseconds.
func (s *Store) Epoch() uint64 { return s.epoch }

// Embedded reports whether the store runs its own embedded server.
func (s *Store) Embedded() bool { return s.embedded != nil }

// Follow starts the follower, which replays the stream into a and then
// follows it, and the lag monitor that watches it. Both run until Close.
// Follow is called once.
func (s *Store) Follow(a Applier) {
	s.follower = newFollower(s.js, &s.cfg, a, s.waiter, s.log)
	s.follower.echoes = s.pub.echoes
	s.monitor = newLagMonitor(s.js, &s.cfg, s.follower)
	s.pub.storeDown = s.monitor.storeDown
	s.pub.echoing = s.follower.caughtUp.Load
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.follower.run(ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.monitor.run(ctx)
	}()
}

// Close stops the follower and the monitor, closes the connection
// (flushing what it buffered) and stops the embedded server. Calls after
// the first do nothing.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		if s.barrier != nil {
			s.barrier.wait()
		}
		s.closeNATS()
	})
}

func (s *Store) closeNATS() {
	if s.nc != nil {
		if err := s.nc.Drain(); err != nil {
			s.nc.Close()
		}
		for i := 0; i < 100 && !s.nc.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		s.nc.Close()
	}
	if s.embedded != nil {
		s.embedded.stop()
	}
}

// Publish stores ev and returns its stream sequence once JetStream has
// stored it: once the follower has applied it (the projection then holds
// it) or, when it does not come back soon, once JetStream has acknowledged
// it (see publishEcho). An error means "not known to be stored", never
// "lost after an acknowledgement"; see publisher. An empty ev.RequestID is
// filled with a random one, which is also the publish's Nats-Msg-Id.
func (s *Store) Publish(ctx context.Context, ev events.Event) (uint64, error) {
	return s.pub.publishEcho(ctx, ev)
}

// PublishConfirmations counts the Publish calls that returned a sequence,
// by how the stream confirmed the event: its echo through the follower or,
// when that did not come soon (or the follower was not caught up), the
// stream's acknowledgement.
func (s *Store) PublishConfirmations() (echo, ack uint64) {
	return s.pub.echoed.Load(), s.pub.acked.Load()
}

// PublishExpectLast stores ev only if the last event on its user's subject
// is at sequence last (0: none yet). A conflict is an error wrapping
// ErrWrongLastSequence, and nothing is stored.
func (s *Store) PublishExpectLast(ctx context.Context, ev events.Event, last uint64) (uint64, error) {
	return s.pub.publishExpectLast(ctx, ev, last)
}

// WaitApplied blocks until the Applier has applied seq or ctx ends.
func (s *Store) WaitApplied(ctx context.Context, seq uint64) error {
	return s.waiter.Wait(ctx, seq)
}

// LastSeq asks the stream for its last sequence. It fails at once while the
// node is cut off from NATS or the stream has not answered recently.
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	if !s.nc.IsConnected() {
		return 0, ErrNotConnected
	}
	if s.monitor != nil && s.monitor.storeDown() {
		return 0, errStoreDown
	}
	return streamLastSeq(ctx, s.js, s.cfg.Stream)
}

// ReadBarrier returns a stream sequence at or past every event
// acknowledged before the call (see readBarrier): once the Applier has
// applied it, reads reflect all those events. It fails at once while the
// node is cut off from NATS or the stream has not answered recently.
func (s *Store) ReadBarrier(ctx context.Context) (uint64, error) {
	if !s.nc.IsConnected() {
		return 0, ErrNotConnected
	}
	if s.monitor != nil && s.monitor.storeDown() {
		return 0, errStoreDown
	}
	return s.barrier.sequence(ctx)
}

// Connected reports whether the NATS connection is up.
func (s *Store) Connected() bool { return s.nc.IsConnected() }

// CaughtUp reports whether the replay has reached the end of the stream
// once: before that, the Applier may miss users that exist.
func (s *Store) CaughtUp() bool { return s.follower != nil && s.follower.caughtUp.Load() }

// Behind reports whether the Applier has gone longer than ReadyMaxLag
// without being known to hold everything in the stream, and for how long.
func (s *Store) Behind() (bool, time.Duration) {
	st := s.monitor.staleness()
	return st > s.monitor.maxLag, st
}

// Staleness is how long ago the Applier was last known to hold everything
// the stream held.
func (s *Store) Staleness() time.Duration { return s.monitor.staleness() }

// StreamLastSeq is the stream's last sequence as the monitor last read it,
// never below the Applier's sequence at that moment.
func (s *Store) StreamLastSeq() uint64 { return s.monitor.lastSeq.Load() }

// ReplayDuration is how long the start-up replay took to reach the end of
// the stream, from Follow (0 until it has).
func (s *Store) ReplayDuration() time.Duration { return s.monitor.replayDuration() }

// ConsumerRestarts counts the times the follower recreated its consumer
// after a failure.
func (s *Store) ConsumerRestarts() uint64 { return s.follower.restarts.Load() }
