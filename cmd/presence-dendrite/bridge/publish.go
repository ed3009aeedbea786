package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errNotConsumed means Dendrite did not acknowledge a page's publications in
// time, or its sync consumer changed meanwhile: the page is published again.
var errNotConsumed = errors.New("Dendrite's sync consumer has not acknowledged the publications")

// publishLoop follows the change feed from the stored position and
// publishes every page to Dendrite, storing the page's next position only
// once Dendrite has consumed the page. It returns errLeaseLost when another
// replica has taken over, nil when ctx ends.
func (b *Bridge) publishLoop(ctx context.Context, h *holder, positions *positionStore) error {
	pos, err := b.resume(ctx, positions)
	if err != nil {
		return err
	}
	var bo backoff
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, b.cfg.PollTimeout+15*time.Second)
		page, err := b.feed.Changes(rctx, pos, b.cfg.BatchLimit, b.cfg.PollTimeout)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			b.m.feedErrors.Inc()
			b.status.set(func(s *statusFields) { s.feedOK = false; s.reason = "change feed: " + err.Error() })
			b.log.Warn("change feed request failed", "since", pos, "err", err)
			if apiErr, ok := errors.AsType[*APIError](err); ok && apiErr.RetryAfter > 0 {
				sleep(ctx, apiErr.RetryAfter)
			} else {
				bo.wait(ctx)
			}
			continue
		}
		b.status.set(func(s *statusFields) { s.feedOK = true })
		if page.Reset {
			b.m.feedResets.Inc()
			b.log.Warn("the change feed does not know the stored position (its stream was recreated); continuing from its current one",
				"stored", pos, "next", page.Next)
		} else if len(page.Changes) == 0 {
			b.checkDendrite(ctx)
		} else {
			if err := b.deliver(ctx, h, page.Changes); err != nil {
				if errors.Is(err, errLeaseLost) {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
				b.log.Warn("publishing to Dendrite failed; reading the page again", "since", pos, "changes", len(page.Changes), "err", err)
				bo.wait(ctx)
				continue
			}
		}
		bo.reset()
		if page.Next != pos {
			if err := b.commit(ctx, positions, page.Next); err != nil {
				return err
			}
			pos = page.Next
		}
	}
	return nil
}

// resume returns the stored position, or, on first start, the feed's
// current position (stored at once): a new bridge starts from now.
func (b *Bridge) resume(ctx context.Context, positions *positionStore) (string, error) {
	var bo backoff
	for ctx.Err() == nil {
		pos, ok, err := positions.load(ctx)
		if err == nil && ok {
			b.log.Info("resuming the change feed", "position", pos)
			b.checkDendrite(ctx)
			return pos, nil
		}
		if err == nil {
			var page Page
			page, err = b.feed.Changes(ctx, "", 0, 0)
			if err == nil {
				b.log.Info("no stored position: starting from the change feed's current one", "position", page.Next)
				b.checkDendrite(ctx)
				return page.Next, b.commit(ctx, positions, page.Next)
			}
			b.m.feedErrors.Inc()
			b.status.set(func(s *statusFields) { s.feedOK = false; s.reason = "change feed: " + err.Error() })
		}
		if ctx.Err() == nil {
			b.log.Warn("cannot resume yet", "err", err)
			bo.wait(ctx)
		}
	}
	return "", nil
}

// commit stores pos, retrying transient failures until ctx ends.
func (b *Bridge) commit(ctx context.Context, positions *positionStore, pos string) error {
	var bo backoff
	for {
		err := positions.store(ctx, pos)
		if err == nil {
			b.m.positionCommits.Inc()
			return nil
		}
		if errors.Is(err, errLeaseLost) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		b.log.Warn("cannot store the feed position", "position", pos, "err", err)
		bo.wait(ctx)
	}
}

// checkDendrite looks for Dendrite's sync consumer, for /readyz, while
// there is nothing to publish.
func (b *Bridge) checkDendrite(ctx context.Context) {
	d := b.cfg.Dendrite
	_, err := b.js.Consumer(ctx, d.Stream(), d.SyncConsumerName())
	b.status.set(func(s *statusFields) {
		s.dendriteOK = err == nil
		if err != nil {
			s.reason = fmt.Sprintf("Dendrite's sync consumer %s on stream %s: %v", d.SyncConsumerName(), d.Stream(), err)
		}
	})
}

// deliver publishes changes in order and waits until Dendrite's sync
// consumer has acknowledged the last of them. Dendrite's presence stream has
// interest retention: without its consumer a publication would be dropped or
// kept only for the stream's MaxAge, so the consumer must exist first.
func (b *Bridge) deliver(ctx context.Context, h *holder, changes []Change) error {
	d := b.cfg.Dendrite
	cons, err := b.js.Consumer(ctx, d.Stream(), d.SyncConsumerName())
	if err != nil {
		reason := fmt.Sprintf("Dendrite's sync consumer %s on stream %s: %v", d.SyncConsumerName(), d.Stream(), err)
		b.status.set(func(s *statusFields) { s.dendriteOK = false; s.reason = reason })
		return errors.New(reason)
	}
	created := cons.CachedInfo().Created
	b.status.set(func(s *statusFields) { s.dendriteOK = true })

	start := b.now()
	var last uint64
	for _, c := range changes {
		if !h.holds(b.now()) {
			return errLeaseLost
		}
		ack, err := b.js.PublishMsg(ctx, encodeChange(d.Subject(), b.cfg.Replica, c, b.now(), b.cfg.MaxLastActiveAge))
		if err != nil {
			return fmt.Errorf("publish to %s: %w", d.Subject(), err)
		}
		b.m.published.Inc()
		last = ack.Sequence
	}
	if err := b.awaitConsumed(ctx, cons, created, last, start.Add(b.cfg.DeliveryTimeout)); err != nil {
		b.m.unconfirmed.Inc()
		return err
	}
	b.m.consumed.Add(float64(len(changes)))
	b.m.deliverySeconds.Observe(b.now().Sub(start).Seconds())
	return nil
}

// awaitConsumed polls the sync consumer's ack floor until it reaches seq.
// The consumer acknowledges a message after writing it to its database, in
// order (one message at a time), so a floor at or past seq means every
// publication up to seq is in Dendrite. A consumer with another creation
// time is a new one (the stream or Dendrite's state was recreated), whose
// floor says nothing about our messages.
func (b *Bridge) awaitConsumed(ctx context.Context, cons jetstream.Consumer, created time.Time, seq uint64, deadline time.Time) error {
	wait := 5 * time.Millisecond
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("%w: %v", errNotConsumed, err)
		}
		if !info.Created.Equal(created) {
			return fmt.Errorf("%w: the consumer was recreated", errNotConsumed)
		}
		if info.AckFloor.Stream >= seq {
			return nil
		}
		if !b.now().Before(deadline) {
			return fmt.Errorf("%w: ack floor %d, last publication %d", errNotConsumed, info.AckFloor.Stream, seq)
		}
		sleep(ctx, wait)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait = min(wait*2, 250*time.Millisecond)
	}
}
