package store

import (
	"sync"
	"sync/atomic"
)

// echoes lets a publish learn from the stream itself that its event is
// stored. The follower hands every event it applies to seen; a publish that
// waits for its request ID is then told the event's stream sequence, and the
// projection already holds the event. The stream delivers a message to a
// consumer only once it has stored it (on a replicated stream, once a quorum
// has), so an echo proves what an acknowledgement proves, and it is the
// proof a read-your-writes PUT waits for anyway: the acknowledgement itself
// is then a second message for the server to send and the node to parse.
type echoes struct {
	waiting atomic.Int64 // len(m), read without the lock by seen
	mu      sync.Mutex
	m       map[string]chan uint64
}

func newEchoes() *echoes { return &echoes{m: make(map[string]chan uint64)} }

// expect registers a publish of request ID id, before it is sent. The
// channel receives the event's sequence once the follower has applied it.
func (e *echoes) expect(id string) chan uint64 {
	ch := make(chan uint64, 1)
	e.mu.Lock()
	e.m[id] = ch
	e.waiting.Store(int64(len(e.m)))
	e.mu.Unlock()
	return ch
}

// forget removes the registration of id.
func (e *echoes) forget(id string) {
	e.mu.Lock()
	delete(e.m, id)
	e.waiting.Store(int64(len(e.m)))
	e.mu.Unlock()
}

// seen reports that the event of request ID id, stored at seq, has been
// applied.
func (e *echoes) seen(id string, seq uint64) {
	if e.waiting.Load() == 0 || id == "" {
		return
	}
	e.mu.Lock()
	ch, ok := e.m[id]
	if ok {
		delete(e.m, id)
		e.waiting.Store(int64(len(e.m)))
	}
	e.mu.Unlock()
	if ok {
		ch <- seq // buffered, and each registration is answered once
	}
}
