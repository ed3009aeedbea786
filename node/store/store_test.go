package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/nodetest"
	"github.com/presenced/presenced/node/store"
	"github.com/presenced/presenced/projection"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	srv := nodetest.RunNATS(t, server.Options{})
	cfg := store.DefaultConfig()
	cfg.NATSURLs = []string{srv.ClientURL()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, cfg, store.Options{Name: t.Name(), Logger: nodetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func event(userID string, p events.Presence) events.Event {
	return events.Event{V: events.SchemaVersion, UserID: userID, Presence: p, Origin: "test"}
}

// TestPublishExpectLast: a conditional publish is stored only while the
// user's subject still ends at the expected sequence; a conflict is
// ErrWrongLastSequence and stores nothing. Other users' subjects do not
// count.
func TestPublishExpectLast(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	const alice, bob = "@alice:example.org", "@bob:example.org"

	first, err := s.PublishExpectLast(ctx, event(alice, events.Online), 0)
	if err != nil {
		t.Fatalf("first event of a subject, expecting none: %v", err)
	}
	if _, err := s.Publish(ctx, event(bob, events.Online)); err != nil {
		t.Fatal(err)
	}
	second, err := s.PublishExpectLast(ctx, event(alice, events.Unavailable), first)
	if err != nil {
		t.Fatalf("expecting the subject's last sequence %d: %v", first, err)
	}
	_, err = s.PublishExpectLast(ctx, event(alice, events.Offline), first)
	if !errors.Is(err, store.ErrWrongLastSequence) {
		t.Fatalf("expecting a stale sequence: got %v, want ErrWrongLastSequence", err)
	}
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) || conflict.Last != second {
		t.Fatalf("a conflict should report the subject's last sequence %d: %v", second, err)
	}
	if _, err := s.PublishExpectLast(ctx, event(bob, events.Offline), 0); !errors.Is(err, store.ErrWrongLastSequence) {
		t.Fatalf("expecting no event on a subject that has one: got %v", err)
	}
	last, err := s.LastSeq(ctx)
	if err != nil || last != second {
		t.Fatalf("stream last sequence %d (%v), want %d: a refused publish stored something", last, err, second)
	}
}

// TestFollowFeedsApplier: the follower replays and follows the stream into
// the Applier it is given, and WaitApplied returns once a sequence is in.
func TestFollowFeedsApplier(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before, err := s.Publish(ctx, event("@alice:example.org", events.Online))
	if err != nil {
		t.Fatal(err)
	}
	proj := projection.New(0)
	s.Follow(proj)
	if err := s.WaitApplied(ctx, before); err != nil {
		t.Fatalf("replayed event not applied: %v", err)
	}
	after, err := s.Publish(ctx, event("@bob:example.org", events.Unavailable))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitApplied(ctx, after); err != nil {
		t.Fatalf("followed event not applied: %v", err)
	}
	if proj.Len() != 2 || proj.AppliedSeq() != after {
		t.Fatalf("projection holds %d users at sequence %d, want 2 at %d", proj.Len(), proj.AppliedSeq(), after)
	}
	nodetest.Eventually(t, 5*time.Second, func() error {
		if !s.CaughtUp() {
			return errors.New("not caught up")
		}
		return nil
	})
}
