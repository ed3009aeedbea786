package projection

import (
	"sync"
	"time"
)

// The timer index keeps, for every user whose state will change with time,
// the instant of that change (NextTransition), so that a node can make each
// timer transition durable (Expire) without scanning every user. It is an
// indexed min-heap with one slot per user, updated in place when the user's
// state is replaced, so it never holds more than one timer per user. It
// runs no goroutine: the caller asks what is due.

// DefaultTimerRetry is how long Due waits before offering a user again
// when no new state for them has been applied meanwhile (the expiry's
// publish failed, or lost a race and the winner is not applied yet).
const DefaultTimerRetry = time.Second

type timer struct {
	atMS int64 // the transition, rounded up to a millisecond
	ref  uint32
}

type timers struct {
	mu    sync.Mutex
	heap  []timer
	pos   [shardCount][]int32 // heap index + 1 of each entry's timer; 0 = none
	pol   Policy
	retry time.Duration
}

// set schedules the user at ref for at, or for nothing when at is zero.
func (tm *timers) set(ref uint32, at time.Time) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	si, i := ref>>slotBits, ref&slotMask
	pos := &tm.pos[si]
	for uint32(len(*pos)) <= i {
		*pos = append(*pos, 0)
	}
	h := int((*pos)[i]) - 1
	if at.IsZero() {
		if h >= 0 {
			tm.remove(h)
		}
		return
	}
	ms := at.UnixMilli()
	if time.UnixMilli(ms).Before(at) {
		ms++ // never offer a user before their transition
	}
	if h < 0 {
		tm.heap = append(tm.heap, timer{atMS: ms, ref: ref})
		h = len(tm.heap) - 1
		(*pos)[i] = int32(h + 1)
	} else {
		tm.heap[h].atMS = ms
	}
	tm.fix(h)
}

// due returns the users due at nowMS (at most max) and offers each again
// after the retry delay unless a new state re-schedules them first.
func (tm *timers) due(nowMS int64, max int) []uint32 {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	var refs []uint32
	for len(refs) < max && len(tm.heap) > 0 && tm.heap[0].atMS <= nowMS {
		refs = append(refs, tm.heap[0].ref)
		tm.heap[0].atMS = nowMS + max64(tm.retry.Milliseconds(), 1)
		tm.down(0)
	}
	return refs
}

func max64(a, b int64) int64 { return max(a, b) }

func (tm *timers) remove(h int) {
	last := len(tm.heap) - 1
	tm.setPos(tm.heap[h].ref, 0)
	if h != last {
		tm.heap[h] = tm.heap[last]
		tm.setPos(tm.heap[h].ref, h+1)
	}
	tm.heap = tm.heap[:last]
	if h != last {
		tm.fix(h)
	}
}

func (tm *timers) setPos(ref uint32, v int) { tm.pos[ref>>slotBits][ref&slotMask] = int32(v) }

func (tm *timers) fix(h int) {
	if !tm.down(h) {
		tm.up(h)
	}
}

func (tm *timers) swap(a, b int) {
	tm.heap[a], tm.heap[b] = tm.heap[b], tm.heap[a]
	tm.setPos(tm.heap[a].ref, a+1)
	tm.setPos(tm.heap[b].ref, b+1)
}

func (tm *timers) up(h int) {
	for h > 0 {
		parent := (h - 1) / 2
		if tm.heap[parent].atMS <= tm.heap[h].atMS {
			return
		}
		tm.swap(parent, h)
		h = parent
	}
}

// down sinks h and reports whether it moved.
func (tm *timers) down(h int) bool {
	start := h
	n := len(tm.heap)
	for {
		c := 2*h + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && tm.heap[r].atMS < tm.heap[c].atMS {
			c = r
		}
		if tm.heap[h].atMS <= tm.heap[c].atMS {
			break
		}
		tm.swap(h, c)
		h = c
	}
	return h > start
}

// Due returns the IDs of at most max users whose next transition has come
// by now. For each, the caller re-reads the record, calls Expire and
// publishes its event with the record's sequence as the expected last
// subject sequence (so that of many nodes one stores it, and a user written
// meanwhile is not overwritten). Applying the user's new state re-schedules
// them; a user offered and not re-scheduled is offered again after the
// retry delay (Options.TimerRetry). It needs Options.Timers (without it,
// Due returns nothing).
func (p *Projection) Due(now time.Time, max int) []string {
	if p.timers == nil || max <= 0 {
		return nil
	}
	refs := p.timers.due(now.UnixMilli(), max)
	if len(refs) == 0 {
		return nil
	}
	ids := make([]string, len(refs))
	for i, ref := range refs {
		ids[i] = p.userAt(ref)
	}
	return ids
}

// NextDue is the earliest instant at which Due will offer a user, or the
// zero time when no user has a timer, so that the caller can sleep until
// then (or until the next Apply, which may bring it forward).
func (p *Projection) NextDue() time.Time {
	if p.timers == nil {
		return time.Time{}
	}
	p.timers.mu.Lock()
	defer p.timers.mu.Unlock()
	if len(p.timers.heap) == 0 {
		return time.Time{}
	}
	return time.UnixMilli(p.timers.heap[0].atMS)
}

// Timers is the number of users with a pending timer transition.
func (p *Projection) Timers() int {
	if p.timers == nil {
		return 0
	}
	p.timers.mu.Lock()
	defer p.timers.mu.Unlock()
	return len(p.timers.heap)
}
