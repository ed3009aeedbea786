package store

import (
	"context"
	"sync"
)

// Waiter lets requests wait until the projection has applied a stream
// sequence: a PUT is answered only once its own node can read it back. The
// follower advances it after each message; any number of requests wait.
type Waiter struct {
	mu      sync.Mutex
	seq     uint64
	waiters int
	ch      chan struct{} // closed and replaced when seq advances and someone waits
}

// NewWaiter returns a waiter at sequence 0.
func NewWaiter() *Waiter { return &Waiter{ch: make(chan struct{})} }

// Advance records that every sequence up to seq has been applied.
func (w *Waiter) Advance(seq uint64) {
	w.mu.Lock()
	if seq > w.seq {
		w.seq = seq
		if w.waiters > 0 {
			close(w.ch)
			w.ch = make(chan struct{})
		}
	}
	w.mu.Unlock()
}

// Wait blocks until seq has been applied or ctx ends.
func (w *Waiter) Wait(ctx context.Context, seq uint64) error {
	w.mu.Lock()
	w.waiters++
	defer func() {
		w.mu.Lock()
		w.waiters--
		w.mu.Unlock()
	}()
	for {
		if w.seq >= seq {
			w.mu.Unlock()
			return nil
		}
		ch := w.ch
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
}
