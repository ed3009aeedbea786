package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
)

// Applier is what the follower feeds: the node's projection today, any
// other fold of the stream (a change feed) as well. The follower calls it
// from one goroutine, in stream order, each sequence once; AppliedSeq must
// report the highest sequence applied or skipped, so that a replacement
// consumer resumes right after it.
type Applier interface {
	// Apply folds ev, stored at stream sequence seq at storedAt.
	Apply(seq uint64, storedAt time.Time, ev events.Event)
	// Skip records that the message at seq is not an event it can apply.
	Skip(seq uint64, err error)
	// Pass records that the message at seq is not an event at all (a
	// consistent read's barrier): it only counts as applied.
	Pass(seq uint64)
	// AppliedSeq is the highest sequence applied or skipped.
	AppliedSeq() uint64
}

// errStalled ends a consumer that the lag monitor found stuck: the stream
// has events the projection has not applied and none arrived for a while.
var errStalled = errors.New("consumer stalled behind the stream")

// follower feeds the projection from the stream. At start it replays the
// latest event of every user (an ordered consumer delivering the last message
// per subject), then follows new events. If its consumer fails (its server
// died, the connection dropped) it creates a new one that starts at the last
// applied sequence + 1, so nothing is skipped and nothing applied twice: the
// projection ignores any sequence at or below the one it applied last.
//
// The ordered consumer of the client library already recreates itself after
// missed heartbeats; the loop in run is the outer safety net, and kick lets
// the lag monitor force a new consumer when one stalls without an error.
type follower struct {
	js     jetstream.JetStream
	stream string
	filter string
	prefix string
	// barrier is the subject of consistent-read barriers, passed over.
	barrier string
	proj    Applier
	waiter  *Waiter
	// echoes, when set, is told of every event applied (publishEcho).
	echoes *echoes
	log    *slog.Logger

	// pullExpiry is short so that a pull that its dead server will never
	// answer is noticed within seconds, not after the default 30 s.
	pullExpiry time.Duration
	batch      int

	caughtUp   atomic.Bool  // the replay reached the end of the stream once
	caughtUpAt atomic.Int64 // unix nanos (wall clock) it did
	consumerAt atomic.Int64 // unix nanos (wall clock) the current consumer was created
	current    atomic.Int64 // unix nanos: the projection held everything the stream held at this time
	restarts   atomic.Uint64
	kicks      chan struct{}
}

func newFollower(js jetstream.JetStream, cfg *Config, proj Applier, w *Waiter, log *slog.Logger) *follower {
	return &follower{
		js:         js,
		stream:     cfg.Stream,
		filter:     events.SubjectFilter(cfg.SubjectPrefix),
		prefix:     cfg.SubjectPrefix,
		barrier:    BarrierSubject(cfg.SubjectPrefix),
		proj:       proj,
		waiter:     w,
		log:        log,
		pullExpiry: 2 * time.Second,
		batch:      65536,
		kicks:      make(chan struct{}, 1),
	}
}

// run follows the stream until ctx ends.
func (f *follower) run(ctx context.Context) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := f.consume(ctx)
		if ctx.Err() != nil {
			return
		}
		f.restarts.Add(1)
		f.log.Warn("stream consumer stopped; recreating it", "err", err, "applied_seq", f.proj.AppliedSeq())
		if time.Since(start) > 10*time.Second {
			delay = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// replaceStalled replaces a consumer that sits behind the stream's last
// sequence with nothing arriving; the new consumer's clock starts now.
func (f *follower) replaceStalled(streamLast uint64) {
	f.log.Warn("projection is behind the stream and no events arrive; replacing the consumer",
		"applied_seq", f.proj.AppliedSeq(), "stream_last_seq", streamLast)
	f.consumerAt.Store(time.Now().UnixNano())
	f.kick()
}

// kick asks the follower to replace its consumer.
func (f *follower) kick() {
	select {
	case f.kicks <- struct{}{}:
	default:
	}
}

// consume runs one ordered consumer until it fails, is kicked or ctx ends.
func (f *follower) consume(ctx context.Context) error {
	f.consumerAt.Store(time.Now().UnixNano())
	applied := f.proj.AppliedSeq()
	cc := jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{f.filter},
		InactiveThreshold: 30 * time.Second,
	}
	if applied == 0 {
		cc.DeliverPolicy = jetstream.DeliverLastPerSubjectPolicy
	} else {
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = applied + 1
	}
	asOf := time.Now()
	last, err := streamLastSeq(ctx, f.js, f.stream)
	if err != nil {
		return fmt.Errorf("stream info: %w", err)
	}
	if last <= applied {
		f.markCurrent(asOf)
		f.markCaughtUp()
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := f.js.OrderedConsumer(cctx, f.stream, cc)
	cancel()
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	// A kick that arrived before this consumer existed was about another.
	select {
	case <-f.kicks:
	default:
	}
	// The consumer calls back on its subscription's goroutine, one message
	// at a time: cheaper per message than an iterator (no timer armed and
	// no channel crossed per message), which a replay of millions of users
	// feels. The ordered consumer recreates itself after missed heartbeats
	// or a gap; any other error ends this consumer and run makes a new one.
	failed := make(chan error, 1)
	var mu sync.Mutex // held while a message is applied; stopped is set under it
	stopped := false
	handle := func(msg jetstream.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		f.handle(msg)
	}
	onErr := func(_ jetstream.ConsumeContext, err error) {
		if ignorableConsumeError(err) {
			return
		}
		select {
		case failed <- err:
		default:
		}
	}
	consumer, err := cons.Consume(handle, jetstream.PullMaxMessages(f.batch), jetstream.PullExpiry(f.pullExpiry),
		jetstream.ConsumeErrHandler(onErr))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer func() {
		consumer.Stop()
		mu.Lock()
		stopped = true
		mu.Unlock()
	}()
	f.consumerAt.Store(time.Now().UnixNano())
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.kicks:
		return errStalled
	case err := <-failed:
		return err
	case <-consumer.Closed():
		return errConsumerClosed
	}
}

// errConsumerClosed ends a consumer that the client library closed (the
// connection closed, or the consumer could not be recreated).
var errConsumerClosed = errors.New("consumer closed")

// ignorableConsumeError reports the errors after which the ordered
// consumer goes on by itself (it recreates its server-side consumer after
// missed heartbeats, a sequence gap, a deleted consumer or a reconnect).
func ignorableConsumeError(err error) bool {
	return errors.Is(err, jetstream.ErrNoHeartbeat) ||
		errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, nats.ErrNoResponders)
}

// handle applies one delivered message and records the follower's progress.
func (f *follower) handle(msg jetstream.Msg) {
	d, ok := parseAckReply(msg.Reply())
	if !ok {
		f.log.Warn("message without JetStream metadata", "reply", msg.Reply())
		return
	}
	if err := f.apply(d.streamSeq, d.storedAt, msg.Subject(), msg.Data()); err != nil {
		f.log.Warn("skipped event", "seq", d.streamSeq, "subject", msg.Subject(), "err", err)
	}
	f.waiter.Advance(f.proj.AppliedSeq())
	if d.pending == 0 {
		// The server counted nothing after this message when it sent it,
		// a moment ago.
		f.markCurrent(time.Now())
		f.markCaughtUp()
	}
}

// apply folds one stream message into the projection. An event must sit on
// its own user's subject: one published on another user's subject is
// skipped as malformed rather than allowed to change the wrong user.
func (f *follower) apply(seq uint64, storedAt time.Time, subject string, data []byte) error {
	if subject == f.barrier {
		f.proj.Pass(seq)
		return nil
	}
	ev, err := events.DecodeOwned(data)
	if err == nil && !events.SubjectMatches(f.prefix, subject, ev.UserID) {
		err = fmt.Errorf("%w: an event of %s on subject %s", events.ErrMalformed, ev.UserID, subject)
	}
	if err != nil {
		f.proj.Skip(seq, err)
		return err
	}
	f.proj.Apply(seq, storedAt, ev)
	if f.echoes != nil {
		f.echoes.seen(ev.RequestID, seq)
	}
	return nil
}

// markCurrent records that the projection holds everything the stream held
// at time t. It only moves forward.
func (f *follower) markCurrent(t time.Time) {
	ns := t.UnixNano()
	for {
		old := f.current.Load()
		if ns <= old || f.current.CompareAndSwap(old, ns) {
			return
		}
	}
}

func (f *follower) markCaughtUp() {
	if f.caughtUp.CompareAndSwap(false, true) {
		f.caughtUpAt.Store(time.Now().UnixNano())
		attrs := []any{"applied_seq", f.proj.AppliedSeq()}
		if l, ok := f.proj.(interface{ Len() int }); ok {
			attrs = append([]any{"users", l.Len()}, attrs...)
		}
		f.log.Info("projection caught up", attrs...)
	}
}
