package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
)

// publisher stores events in the stream. A publish that times out is
// ambiguous (it may have been stored), so it is retried with the same
// Nats-Msg-Id until the deadline: JetStream's dedupe window turns a retry of
// a stored event into a duplicate acknowledgement with the original sequence.
type publisher struct {
	js            jetstream.JetStream
	stream        string
	subjectPrefix string
	timeout       time.Duration
}

// publish stores ev and returns its stream sequence once JetStream has
// acknowledged it.
func (p *publisher) publish(ctx context.Context, ev events.Event) (uint64, error) {
	data, err := events.Encode(ev)
	if err != nil {
		return 0, err
	}
	subject := events.Subject(p.subjectPrefix, ev.UserID)
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	backoff := 25 * time.Millisecond
	for {
		actx, acancel := context.WithTimeout(ctx, min(2*time.Second, p.timeout))
		ack, err := p.js.Publish(actx, subject, data,
			jetstream.WithMsgID(ev.RequestID), jetstream.WithExpectStream(p.stream))
		acancel()
		if err == nil {
			return ack.Sequence, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("publish %s: %w (last error: %v)", ev.RequestID, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// newRequestID returns a random identifier for an event and its publish.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
