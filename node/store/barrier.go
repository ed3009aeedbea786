package store

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BarrierSubject is the subject of consistent-read barriers under prefix.
// It has two tokens after the prefix, so it is never a user's subject (one
// token), and the stream's filter (prefix.>) stores it; with one message
// kept per subject, the stream holds only the latest barrier.
func BarrierSubject(prefix string) string { return prefix + ".barrier.read" }

// readBarrier learns a stream sequence at or past every write acknowledged
// before it was asked, by publishing an empty message to the barrier
// subject. JetStream acknowledges a publish only once the current stream
// leader has stored it on a quorum, and such a leader holds every earlier
// acknowledged write, so the acknowledged sequence is past each of them,
// whichever server answers and however leaders change. A deposed or cut-off
// leader cannot reach a quorum, so its barrier fails rather than lies.
//
// The stream's own report of its last sequence ($JS.API.STREAM.INFO) gives
// no such guarantee: while the stream has no leader, and for a while after
// a restart, a replica answers it from its own store, which may be seconds
// behind, and the client takes the first answer. A consistent read that
// trusted it could miss acknowledged writes.
//
// Concurrent reads share barriers: a read joins the next barrier to be
// published, never one already in flight (which the leader may have
// sequenced before the read began).
type readBarrier struct {
	js      jetstream.JetStream
	stream  string
	subject string
	timeout time.Duration

	mu      sync.Mutex
	next    *barrierRound // the round new reads join; nil when none waits
	running bool          // a goroutine is publishing rounds
	wg      sync.WaitGroup
}

type barrierRound struct {
	done chan struct{}
	seq  uint64
	err  error
}

func newReadBarrier(js jetstream.JetStream, cfg *Config) *readBarrier {
	return &readBarrier{js: js, stream: cfg.Stream, subject: BarrierSubject(cfg.SubjectPrefix),
		timeout: min(2*time.Second, cfg.PublishTimeout)}
}

// sequence returns the sequence of a barrier published after the call.
func (b *readBarrier) sequence(ctx context.Context) (uint64, error) {
	b.mu.Lock()
	if b.next == nil {
		b.next = &barrierRound{done: make(chan struct{})}
	}
	r := b.next
	if !b.running {
		b.running = true
		b.wg.Add(1)
		go b.publishRounds()
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.seq, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// publishRounds publishes one barrier per round until no read waits. Each
// publish is bounded by b.timeout, so the goroutine ends soon after the
// last read; close waits for it.
func (b *readBarrier) publishRounds() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		r := b.next
		b.next = nil
		if r == nil {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		ack, err := b.js.Publish(ctx, b.subject, nil, jetstream.WithExpectStream(b.stream))
		cancel()
		if err == nil {
			r.seq = ack.Sequence
		}
		r.err = err
		close(r.done)
	}
}

// wait waits for the publishing goroutine, if any, to end.
func (b *readBarrier) wait() { b.wg.Wait() }
