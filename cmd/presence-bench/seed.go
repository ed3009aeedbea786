package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
)

// seed publishes one event per user for users [from, to) straight to the
// stream, in the format of docs/events.md, with asynchronous publishes: far
// faster than PUTs through a node. The events carry no Nats-Msg-Id, as
// events older than the duplicate window are stored (the usual state of a
// stream a node starts on); they have no status message, the common case.
func seed(ctx context.Context, c *jsConn, from, to int) (time.Duration, error) {
	t0 := time.Now()
	for i := from; i < to; i++ {
		id := userID(i)
		data, err := events.Encode(events.Event{V: 1, UserID: id, Presence: events.Online, Origin: "presence-bench"})
		if err != nil {
			return 0, err
		}
		if _, err := c.js.PublishAsync(events.Subject(events.DefaultSubjectPrefix, id), data, jetstream.WithStallWait(time.Minute)); err != nil {
			return 0, fmt.Errorf("seed %s: %w", id, err)
		}
		if (i-from)%50_000 == 49_999 {
			if err := waitAsync(ctx, c); err != nil {
				return 0, err
			}
		}
	}
	if err := waitAsync(ctx, c); err != nil {
		return 0, err
	}
	if err := republish(ctx, c); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// republish publishes the asynchronous publishes that failed again, one at
// a time, each tried for up to a minute: a stream whose leader moved, or
// that was too busy to answer in time, stores them then.
func republish(ctx context.Context, c *jsConn) error {
	for _, m := range c.takeFailed() {
		deadline := time.Now().Add(time.Minute)
		for {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := c.js.PublishMsg(pctx, m)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("seeding: publish to %s: %w", m.Subject, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func waitAsync(ctx context.Context, c *jsConn) error {
	select {
	case <-c.js.PublishAsyncComplete():
		return nil
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("seeding: publishes not acknowledged within 5 minutes")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// seedAt connects to the nats-server at url, makes sure the stream exists
// with replicas replicas, seeds users from to to as seed does and
// disconnects.
func seedAt(ctx context.Context, url string, replicas, from, to int) (time.Duration, error) {
	jc, err := connectJS(ctx, url, replicas)
	if err != nil {
		return 0, err
	}
	defer jc.close()
	return seed(ctx, jc, from, to)
}
