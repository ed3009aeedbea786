package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/nodetest"
	"github.com/presenced/presenced/node/store"
	"github.com/presenced/presenced/projection"
)

// TestPublishConfirmedByEcho: once the follower is caught up, Publish
// returns an event's sequence when the follower has applied it (no wait
// for the apply is left to the caller), confirmed by its echo rather than
// an acknowledgement.
func TestPublishConfirmedByEcho(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	proj := projection.New(0)
	followCaughtUp(t, s, proj)
	const users = 200
	for i := range users {
		id := nodetest.UserID(i)
		seq, err := s.Publish(ctx, event(id, events.Online))
		if err != nil {
			t.Fatal(err)
		}
		if applied := proj.AppliedSeq(); applied < seq {
			t.Fatalf("Publish returned sequence %d before the projection applied it (at %d)", seq, applied)
		}
		if rec, ok := proj.Lookup(id); !ok || rec.Seq != seq {
			t.Fatalf("%s: projection holds %+v (%v), want the event at %d", id, rec, ok, seq)
		}
	}
	echo, ack := s.PublishConfirmations()
	if echo != users || ack != 0 {
		t.Fatalf("confirmations: %d by echo, %d by acknowledgement; want %d and 0", echo, ack, users)
	}
	if last, err := s.LastSeq(ctx); err != nil || last != users {
		t.Fatalf("stream last sequence %d (%v), want %d: one message per publish", last, err, users)
	}
}

// gatedApplier is a projection whose Apply of one user waits until the
// test opens the gate, as a follower that is stuck would.
type gatedApplier struct {
	*projection.Projection
	user string
	gate chan struct{}
	once sync.Once
}

func (g *gatedApplier) Apply(seq uint64, storedAt time.Time, ev events.Event) {
	if ev.UserID == g.user {
		<-g.gate
	}
	g.Projection.Apply(seq, storedAt, ev)
}

func (g *gatedApplier) open() { g.once.Do(func() { close(g.gate) }) }

// TestPublishFallsBackToAck: when the event does not come back through the
// follower, Publish asks for the acknowledgement with the same Nats-Msg-Id,
// so the stream keeps one copy and the sequence returned is the stored
// event's.
func TestPublishFallsBackToAck(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const stuck = "@stuck:example.org"
	g := &gatedApplier{Projection: projection.New(0), user: stuck, gate: make(chan struct{})}
	defer g.open()
	followCaughtUp(t, s, g)
	seq, err := s.Publish(ctx, event(stuck, events.Unavailable))
	if err != nil {
		t.Fatal(err)
	}
	if echo, ack := s.PublishConfirmations(); echo != 0 || ack != 1 {
		t.Fatalf("confirmations: %d by echo, %d by acknowledgement; want 0 and 1", echo, ack)
	}
	if last, err := s.LastSeq(ctx); err != nil || last != seq || seq != 1 {
		t.Fatalf("stream last sequence %d (%v), Publish returned %d; want both 1 (the retry was a duplicate)", last, err, seq)
	}
	g.open()
	if err := s.WaitApplied(ctx, seq); err != nil {
		t.Fatal(err)
	}
	if rec, ok := g.Lookup(stuck); !ok || rec.Seq != seq || rec.Presence != events.Unavailable {
		t.Fatalf("projection holds %+v (%v), want the event at %d", rec, ok, seq)
	}
}

// TestStalledFollowerReplaced: a follower whose applied sequence stops
// moving while the stream holds more is found stalled by the lag monitor,
// and its consumer is replaced once it can be.
func TestStalledFollowerReplaced(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const stuck = "@stuck:example.org"
	g := &gatedApplier{Projection: projection.New(0), user: stuck, gate: make(chan struct{})}
	defer g.open()
	followCaughtUp(t, s, g)
	if _, err := s.Publish(ctx, event(stuck, events.Online)); err != nil {
		t.Fatal(err)
	}
	// The monitor gives a consumer several seconds without progress
	// before it replaces it; the gate holds the follower well past that.
	nodetest.Eventually(t, 20*time.Second, func() error {
		if s.Staleness() < 5*time.Second {
			return errors.New("the follower has not been behind for long enough yet")
		}
		return nil
	})
	g.open()
	nodetest.Eventually(t, 10*time.Second, func() error {
		if n := s.ConsumerRestarts(); n == 0 {
			return errors.New("the stalled consumer was not replaced")
		}
		return nil
	})
}

// followCaughtUp starts s's follower on a and waits until it has caught up.
func followCaughtUp(t *testing.T, s *store.Store, a store.Applier) {
	t.Helper()
	s.Follow(a)
	nodetest.Eventually(t, 5*time.Second, func() error {
		if !s.CaughtUp() {
			return errors.New("not caught up")
		}
		return nil
	})
}
