package node

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/projection"
)

// follower feeds the projection from the stream. At start it replays the
// latest event of every user (an ordered consumer delivering the last message
// per subject), then follows new events. If its consumer fails (its server
// died, the connection dropped) it creates a new one that starts at the last
// applied sequence + 1, so nothing is skipped and nothing applied twice.
type follower struct {
	js     jetstream.JetStream
	stream string
	filter string
	proj   *projection.Projection
	waiter *seqWaiter
	log    *slog.Logger
	now    func() time.Time

	// pullExpiry is short so that a pull that its dead server will never
	// answer is noticed within seconds, not after the default 30 s.
	pullExpiry time.Duration
	batch      int

	caughtUp     atomic.Bool  // the replay reached the end of the stream once
	lastApplied  atomic.Int64 // unix nanos of the last message applied
	restarts     atomic.Uint64
	onCaughtUp   func()
	onApplyError func(error)
}

func newFollower(js jetstream.JetStream, cfg *Config, proj *projection.Projection, w *seqWaiter, log *slog.Logger, now func() time.Time) *follower {
	return &follower{
		js:         js,
		stream:     cfg.Stream,
		filter:     events.SubjectFilter(cfg.SubjectPrefix),
		proj:       proj,
		waiter:     w,
		log:        log,
		now:        now,
		pullExpiry: 2 * time.Second,
		batch:      8192,
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

// consume runs one ordered consumer until it fails or ctx ends.
func (f *follower) consume(ctx context.Context) error {
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
	last, err := streamLastSeq(ctx, f.js, f.stream)
	if err != nil {
		return err
	}
	if last <= applied {
		f.markCaughtUp()
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := f.js.OrderedConsumer(cctx, f.stream, cc)
	cancel()
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(f.batch), jetstream.PullExpiry(f.pullExpiry))
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer func() {
		stop()
		it.Stop()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			f.log.Warn("message without JetStream metadata", "err", err)
			continue
		}
		seq := md.Sequence.Stream
		if err := f.proj.ApplyMessage(seq, md.Timestamp, msg.Data()); err != nil {
			f.log.Warn("skipped event", "seq", seq, "subject", msg.Subject(), "err", err)
			if f.onApplyError != nil {
				f.onApplyError(err)
			}
		}
		f.waiter.advance(f.proj.AppliedSeq())
		f.lastApplied.Store(f.now().UnixNano())
		if md.NumPending == 0 {
			f.markCaughtUp()
		}
	}
}

func (f *follower) markCaughtUp() {
	if f.caughtUp.CompareAndSwap(false, true) {
		f.log.Info("projection caught up", "users", f.proj.Len(), "applied_seq", f.proj.AppliedSeq())
		if f.onCaughtUp != nil {
			f.onCaughtUp()
		}
	}
}
