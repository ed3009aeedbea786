package projection

import (
	"math"
	"slices"
	"sync"
)

// The change feed answers "every user whose state changed after position N,
// in stream order, each once with their latest state" — what a sync worker
// needs to fill the presence section of /sync. It is an append-only list of
// (sequence, user) in apply order, which is increasing sequence order, so a
// position is found by binary search. When a user's state is replaced, the
// user's previous position (found by binary search on their previous
// sequence) becomes a tombstone; the list is compacted once half of it is
// dead, so it holds at most about two positions per user.

// refOf names entry i of shard si in a feed or timer slot.
func refOf(si int, i uint32) uint32 { return uint32(si)<<slotBits | i }

// deadRef marks a superseded feed position. No entry has this reference:
// shards are numbered below 64 and entries below maxEntries.
const deadRef = math.MaxUint32

type feed struct {
	mu   sync.RWMutex
	seqs []uint64
	refs []uint32
	dead int
}

// add records that the user at ref, whose previous state was at sequence
// prev (0 when new), now has the state at seq.
func (f *feed) add(prev, seq uint64, ref uint32) {
	f.mu.Lock()
	if prev != 0 {
		if i, found := slices.BinarySearch(f.seqs, prev); found && f.refs[i] == ref {
			f.refs[i] = deadRef
			f.dead++
		}
	}
	f.seqs = append(f.seqs, seq)
	f.refs = append(f.refs, ref)
	if f.dead >= 1024 && f.dead*2 > len(f.seqs) {
		f.compact()
	}
	f.mu.Unlock()
}

// compact drops the tombstones, keeping order.
func (f *feed) compact() {
	n := 0
	for i, r := range f.refs {
		if r != deadRef {
			f.seqs[n], f.refs[n] = f.seqs[i], r
			n++
		}
	}
	f.seqs = slices.Clip(f.seqs[:n])
	f.refs = slices.Clip(f.refs[:n])
	f.dead = 0
}

// Changes returns, in stream order, the records of at most limit users
// whose latest applied sequence is above since, each once with their latest
// state, and the position to resume from: the sequence of the last record
// returned, or since when there is none. A reader that passes it back as
// since gets every later change. It needs Options.Feed (without it, Changes
// returns nothing).
//
// A user whose state is being replaced while Changes runs is left to the
// position of their new state, which is after every position returned, so
// no user is returned twice for one state.
func (p *Projection) Changes(since uint64, limit int) ([]Record, uint64) {
	f := p.feed
	if f == nil || limit <= 0 || since == math.MaxUint64 {
		return nil, since
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	i, _ := slices.BinarySearch(f.seqs, since+1)
	var out []Record
	next := since
	for ; i < len(f.seqs) && len(out) < limit; i++ {
		ref := f.refs[i]
		if ref == deadRef {
			continue
		}
		r := p.recordAt(ref)
		if r.Seq != f.seqs[i] {
			continue // replaced meanwhile: its new position follows
		}
		out = append(out, r)
		next = f.seqs[i]
	}
	return out, next
}

// recordAt returns the record of the entry ref names.
func (p *Projection) recordAt(ref uint32) Record {
	s := &p.shards[ref>>slotBits]
	s.mu.RLock()
	i := ref & slotMask
	r := s.t.record(i, string(s.t.id(i)))
	s.mu.RUnlock()
	return r
}

// userAt returns the user ID of the entry ref names.
func (p *Projection) userAt(ref uint32) string {
	s := &p.shards[ref>>slotBits]
	s.mu.RLock()
	id := string(s.t.id(ref & slotMask))
	s.mu.RUnlock()
	return id
}
