package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
)

// errStoreDown fails a publish at once while the stream does not answer.
var errStoreDown = errors.New("the stream has not answered recently (no leader or no quorum)")

// ErrWrongLastSequence fails a conditional publish (PublishExpectLast) when
// the user's subject holds a newer event than the one expected: someone else
// wrote first, and nothing was stored.
var ErrWrongLastSequence = errors.New("the subject's last sequence is not the expected one")

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
	// echoes, when set, tells publishEcho which events the follower has
	// applied; echoing reports whether the follower is following (caught
	// up), so that an echo can be expected soon.
	echoes  *echoes
	echoing func() bool
	// echoed and acked count the publishes of publishEcho confirmed by
	// their echo and by an acknowledgement.
	echoed, acked atomic.Uint64
}

// echoWait is how long publishEcho waits for its event to come back through
// the follower before it asks the stream for an acknowledgement instead. It
// is far above the time an event takes to come back on a loaded node (a
// few milliseconds), so the acknowledgement is only asked for when
// something is wrong: the publish was lost (no stream leader, the
// connection dropped) or the follower is stuck.
const echoWait = 250 * time.Millisecond

// publishEcho stores ev like publishWith and returns once the stream has
// stored it and this node's follower has applied it, which a PUT waits for
// anyway (read your writes). The event is published without asking for an
// acknowledgement: the follower's delivery of it is the proof that it is
// stored (see echoes). If it does not come back within echoWait, the
// event is published again with the same Nats-Msg-Id, this time asking for
// the acknowledgement (the stream's dedupe window turns it into a
// duplicate acknowledgement if the first one was stored), with
// publishWith's retries and errors; before the follower has caught up, that
// is the only publish. Either way, the sequence returned is the event's.
func (p *publisher) publishEcho(ctx context.Context, ev events.Event) (uint64, error) {
	if ev.RequestID == "" {
		ev.RequestID = newRequestID()
	}
	var echo chan uint64 // nil (never ready) when no echo is expected
	if p.echoes != nil && p.echoing != nil && p.echoing() {
		echo = p.echoes.expect(ev.RequestID)
		defer p.echoes.forget(ev.RequestID)
		if seq, ok, err := p.tryEcho(ctx, ev, echo); ok || err != nil {
			return seq, err
		}
	}
	seq, err := p.publishWith(ctx, ev)
	if err != nil {
		// The echo may still have come in the meantime.
		select {
		case seq := <-echo:
			p.echoed.Add(1)
			return seq, nil
		default:
		}
		return 0, err
	}
	p.acked.Add(1)
	return seq, nil
}

// tryEcho publishes ev without asking for an acknowledgement and waits
// echoWait for its sequence on echo. ok reports that it came; false with a
// nil error leaves the acknowledged publish to the caller.
func (p *publisher) tryEcho(ctx context.Context, ev events.Event, echo <-chan uint64) (seq uint64, ok bool, err error) {
	if err := p.usable(ev.RequestID); err != nil {
		return 0, false, err
	}
	data, err := events.Encode(ev)
	if err != nil {
		return 0, false, err
	}
	msg := &nats.Msg{
		Subject: events.Subject(p.subjectPrefix, ev.UserID),
		Data:    data,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{ev.RequestID}, jetstream.ExpectedStreamHeader: []string{p.stream}},
	}
	if err := p.nc.PublishMsg(msg); err != nil {
		return 0, false, nil
	}
	wait := time.NewTimer(echoWait)
	defer wait.Stop()
	select {
	case seq := <-echo:
		p.echoed.Add(1)
		return seq, true, nil
	case <-ctx.Done():
		return 0, false, fmt.Errorf("publish %s: %w", ev.RequestID, ctx.Err())
	case <-wait.C:
		return 0, false, nil
	}
}

// usable fails a publish at once while the connection is down or the
// stream has not answered recently.
func (p *publisher) usable(requestID string) error {
	if p.nc != nil && !p.nc.IsConnected() {
		return fmt.Errorf("publish %s: %w", requestID, ErrNotConnected)
	}
	if p.storeDown != nil && p.storeDown() {
		return fmt.Errorf("publish %s: %w", requestID, errStoreDown)
	}
	return nil
}

// publishExpectLast stores ev only if the last event on its user's subject
// is at stream sequence last (0: the subject holds none), the server's
// compare-and-set (Nats-Expected-Last-Subject-Sequence). When another event
// was stored in between it returns an error wrapping ErrWrongLastSequence
// and stores nothing. A retry after an ambiguous timeout carries the same
// Nats-Msg-Id, so a first attempt that was stored is acknowledged as a
// duplicate rather than refused as a conflict.
func (p *publisher) publishExpectLast(ctx context.Context, ev events.Event, last uint64) (uint64, error) {
	return p.publishWith(ctx, ev, jetstream.WithExpectLastSequencePerSubject(last))
}

func (p *publisher) publishWith(ctx context.Context, ev events.Event, extra ...jetstream.PublishOpt) (uint64, error) {
	if ev.RequestID == "" {
		ev.RequestID = newRequestID()
	}
	data, err := events.Encode(ev)
	if err != nil {
		return 0, err
	}
	subject := events.Subject(p.subjectPrefix, ev.UserID)
	opts := append([]jetstream.PublishOpt{jetstream.WithMsgID(ev.RequestID), jetstream.WithExpectStream(p.stream)}, extra...)
	// The publish timeout is kept as a deadline rather than a context of
	// its own, so that the common publish, acknowledged at the first
	// attempt, arms one timer: its attempt's.
	deadline := time.Now().Add(p.timeout)
	attempt := min(2*time.Second, p.timeout)
	backoff := 25 * time.Millisecond
	var noLeaderSince time.Time
	for {
		if err := p.usable(ev.RequestID); err != nil {
			return 0, err
		}
		actx, acancel := context.WithDeadline(ctx, minTime(time.Now().Add(attempt), deadline))
		ack, err := p.js.Publish(actx, subject, data, opts...)
		acancel()
		if err == nil {
			return ack.Sequence, nil
		}
		if isWrongLastSequence(err) {
			return 0, &ConflictError{Last: reportedLastSequence(err), err: err}
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
		left := time.Until(deadline)
		if ctx.Err() == nil && left <= 0 {
			return 0, fmt.Errorf("publish %s: %w (last error: %v)", ev.RequestID, context.DeadlineExceeded, err)
		}
		wait := time.NewTimer(min(backoff, max(left, 0)))
		select {
		case <-ctx.Done():
			wait.Stop()
			return 0, fmt.Errorf("publish %s: %w (last error: %v)", ev.RequestID, ctx.Err(), err)
		case <-wait.C:
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// isWrongLastSequence reports whether JetStream refused a conditional
// publish because the subject's last sequence differs. Replicated streams
// report it with a code of their own.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// ConflictError is the error of a conditional publish that found a newer
// event on the subject. It wraps ErrWrongLastSequence.
type ConflictError struct {
	// Last is the subject's last sequence as the stream reported it (0 when
	// it did not say).
	Last uint64
	err  error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v (last sequence %d): %v", ErrWrongLastSequence, e.Last, e.err)
}

func (e *ConflictError) Unwrap() error { return ErrWrongLastSequence }

// reportedLastSequence reads the sequence from the server's "wrong last
// sequence: N" description.
func reportedLastSequence(err error) uint64 {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return 0
	}
	_, n, ok := strings.Cut(apiErr.Description, ": ")
	if !ok {
		return 0
	}
	seq, _ := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
	return seq
}

// newRequestID returns a random identifier for an event and its publish.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
