package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
)

// errStoreDown fails a publish at once while the stream does not answer.
var errStoreDown = errors.New("the stream has not answered recently (no leader or no quorum)")

// errNotConnected fails a publish at once while the node has no NATS
// connection: the client gets a 503 and retries, rather than waiting out the
// publish timeout behind a connection that may take long to come back.
var errNotConnected = errors.New("not connected to NATS")

// noLeaderBudget is how long a publish keeps retrying while nothing answers
// for the stream (no stream leader: an election is running, or quorum is
// lost). An election usually ends within it; a lost quorum fails fast.
const noLeaderBudget = 1500 * time.Millisecond

// publisher stores events in the stream. A publish that times out is
// ambiguous (it may have been stored), so it is retried with the same
// Nats-Msg-Id until the deadline: JetStream's dedupe window turns a retry of
// a stored event into a duplicate acknowledgement with the original sequence.
// An error returned is therefore "not known to be stored", never "lost
// after a 200".
type publisher struct {
	nc            *nats.Conn
	js            jetstream.JetStream
	stream        string
	subjectPrefix string
	timeout       time.Duration
	// storeDown, when set, reports that the stream has not answered for a
	// while (no quorum, no leader): publishing then fails at once.
	storeDown func() bool
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
	var noLeaderSince time.Time
	for {
		if p.nc != nil && !p.nc.IsConnected() {
			return 0, fmt.Errorf("publish %s: %w", ev.RequestID, errNotConnected)
		}
		if p.storeDown != nil && p.storeDown() {
			return 0, fmt.Errorf("publish %s: %w", ev.RequestID, errStoreDown)
		}
		actx, acancel := context.WithTimeout(ctx, min(2*time.Second, p.timeout))
		ack, err := p.js.Publish(actx, subject, data,
			jetstream.WithMsgID(ev.RequestID), jetstream.WithExpectStream(p.stream))
		acancel()
		if err == nil {
			return ack.Sequence, nil
		}
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			if noLeaderSince.IsZero() {
				noLeaderSince = time.Now()
			} else if time.Since(noLeaderSince) > noLeaderBudget {
				return 0, fmt.Errorf("publish %s: no stream leader: %w", ev.RequestID, err)
			}
		} else {
			noLeaderSince = time.Time{}
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
