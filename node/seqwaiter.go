package node

import (
	"context"
	"sync"
)

// seqWaiter lets requests wait until the projection has applied a stream
// sequence: a PUT is answered only once its own node can read it back.
type seqWaiter struct {
	mu      sync.Mutex
	seq     uint64
	waiters int
	ch      chan struct{} // closed and replaced when seq advances and someone waits
}

func newSeqWaiter() *seqWaiter { return &seqWaiter{ch: make(chan struct{})} }

// advance records that every sequence up to seq has been applied.
func (w *seqWaiter) advance(seq uint64) {
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

// wait blocks until seq has been applied or ctx ends.
func (w *seqWaiter) wait(ctx context.Context, seq uint64) error {
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
