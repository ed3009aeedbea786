package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// forwardBatch is the most messages taken from the stream at once.
const forwardBatch = 100

// forwardLoop reads Dendrite's presence subject through the bridge's own
// durable consumer and hands what Dendrite's federation receiver published
// to presenced's federation ingest. The bridge's own publications are
// acknowledged and skipped, so nothing loops. A message is acknowledged only
// once presenced has answered for it; a failed hand-over is redelivered.
func (b *Bridge) forwardLoop(ctx context.Context) {
	d := b.cfg.Dendrite
	var bo backoff
	for ctx.Err() == nil {
		cons, err := b.js.CreateOrUpdateConsumer(ctx, d.Stream(), jetstream.ConsumerConfig{
			Durable:       b.cfg.Consumer,
			Description:   "presence-dendrite: inbound federation presence to presenced",
			FilterSubject: d.Subject(),
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			MaxAckPending: 10 * forwardBatch,
			HeadersOnly:   true,
		})
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("cannot create the forwarding consumer (is Dendrite running on this NATS?)", "stream", d.Stream(), "err", err)
				bo.wait(ctx)
			}
			continue
		}
		bo.reset()
		for ctx.Err() == nil {
			fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			batch, err := cons.Fetch(forwardBatch, jetstream.FetchContext(fctx))
			var msgs []jetstream.Msg
			if err == nil {
				for m := range batch.Messages() {
					msgs = append(msgs, m)
				}
				err = batch.Error()
			}
			cancel()
			if len(msgs) > 0 {
				b.forward(ctx, msgs)
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				if ctx.Err() == nil {
					b.log.Warn("reading the presence subject failed", "err", err)
					bo.wait(ctx)
				}
				break // recreate the consumer: the stream may have been recreated
			}
		}
	}
}

// forward sends the forwardable messages of one fetch, grouped by origin
// server, and acknowledges each message once its fate is settled.
func (b *Bridge) forward(ctx context.Context, msgs []jetstream.Msg) {
	type group struct {
		push []Change
		msgs []jetstream.Msg
	}
	var origins []string
	groups := map[string]*group{}
	now := b.now()
	for _, m := range msgs {
		c, origin, skip := decodeInbound(m.Headers(), now)
		if skip != forward {
			b.m.skipped.WithLabelValues(string(skip)).Inc()
			_ = m.Ack()
			continue
		}
		g := groups[origin]
		if g == nil {
			g = &group{}
			groups[origin] = g
			origins = append(origins, origin)
		}
		g.push = append(g.push, c)
		g.msgs = append(g.msgs, m)
	}
	for _, origin := range origins {
		g := groups[origin]
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		res, err := b.feed.Federation(rctx, origin, g.push)
		cancel()
		if apiErr, ok := errors.AsType[*APIError](err); ok && (apiErr.Status == 400 || apiErr.Status == 413) {
			// A refusal of the body itself: sending it again cannot help.
			b.m.forwardRejected.Add(float64(len(g.push)))
			b.log.Warn("presenced refused forwarded presence", "origin", origin, "items", len(g.push), "err", err)
			for _, m := range g.msgs {
				_ = m.Ack()
			}
			continue
		}
		if err != nil {
			b.m.forwardErrors.Inc()
			b.log.Warn("presenced's federation ingest failed; the messages are redelivered", "origin", origin, "items", len(g.push), "err", err)
			for _, m := range g.msgs {
				_ = m.NakWithDelay(time.Second)
			}
			continue
		}
		b.m.forwarded.Add(float64(len(g.push)))
		b.m.forwardAccepted.Add(float64(res.Accepted))
		b.m.forwardRejected.Add(float64(res.Rejected))
		for _, m := range g.msgs {
			_ = m.Ack()
		}
	}
}
