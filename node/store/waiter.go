package store

import (
	"context"
	"sync"
	"sync/atomic"
)

// Waiter lets requests wait until the projection has applied a stream
// sequence: a PUT is answered only once its own node can read it back. The
// follower advances it after each message; any number of requests wait.
// Advance takes no lock while nobody waits, as through a replay.
type Waiter struct {
	seq     atomic.Uint64
	waiters atomic.Int64
	mu      sync.Mutex
	ch      chan struct{} // closed and replaced when seq advances and someone waits; guarded by mu

	// beforeBlock, when set (by tests), runs in Wait between its look at
	// the sequence and its wait on the channel: the window an Advance
	// must not be lost in.
	beforeBlock func()
}

// NewWaiter returns a waiter at sequence 0.
func NewWaiter() *Waiter { return &Waiter{ch: make(chan struct{})} }

// Advance records that every sequence up to seq has been applied.
//
// A waiter registers before it reads the sequence, and Advance raises the
// sequence before it counts the waiters, so either the waiter sees the new
// sequence or Advance sees the waiter and wakes it.
func (w *Waiter) Advance(seq uint64) {
	for {
		old := w.seq.Load()
		if seq <= old {
			return
		}
		if w.seq.CompareAndSwap(old, seq) {
			break
		}
	}
	if w.waiters.Load() == 0 {
		return
	}
	w.mu.Lock()
	close(w.ch)
	w.ch = make(chan struct{})
	w.mu.Unlock()
}

// Wait blocks until seq has been applied or ctx ends.
func (w *Waiter) Wait(ctx context.Context, seq uint64) error {
	if w.seq.Load() >= seq {
		return nil
	}
	w.waiters.Add(1)
	defer w.waiters.Add(-1)
	for {
		w.mu.Lock()
		ch := w.ch
		w.mu.Unlock()
		if w.seq.Load() >= seq {
			return nil
		}
		if w.beforeBlock != nil {
			w.beforeBlock()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
