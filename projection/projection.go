package projection

import (
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/events"
)

// shardCount spreads users over independently locked maps so that readers
// rarely wait on the single writer.
const shardCount = 64

// entry is the state of one user. It is kept small on purpose: the projection
// holds every user of a fleet in memory.
type entry struct {
	seq      uint64  // stream sequence of the event that set this state
	activeMS int64   // store time of that event, Unix milliseconds
	msg      *string // status message; nil when none
	presence uint8   // presenceCode
}

type shard struct {
	mu    sync.RWMutex
	users map[string]entry
}

// Projection is the in-memory state of every user, built from the stream.
// Apply must be called from one goroutine at a time (the stream follower);
// queries may run concurrently with it and with each other.
type Projection struct {
	seed   maphash.Seed
	shards [shardCount]shard

	applied        atomic.Uint64 // highest stream sequence applied or skipped
	users          atomic.Int64
	unknownVersion atomic.Uint64
	malformed      atomic.Uint64
}

// New returns an empty projection sized for about sizeHint users.
func New(sizeHint int) *Projection {
	p := &Projection{seed: maphash.MakeSeed()}
	per := sizeHint / shardCount
	for i := range p.shards {
		p.shards[i].users = make(map[string]entry, per)
	}
	return p
}

func (p *Projection) shardFor(userID string) *shard {
	return &p.shards[maphash.String(p.seed, userID)%shardCount]
}

// ApplyMessage decodes data and applies it at stream sequence seq, stored at
// storedAt. A message that is malformed or written in a schema version newer
// than this build understands is counted and skipped; its sequence still
// counts as applied, so a reader waiting for it is not left hanging.
func (p *Projection) ApplyMessage(seq uint64, storedAt time.Time, data []byte) error {
	if seq <= p.applied.Load() {
		return nil
	}
	ev, err := events.Decode(data)
	if err != nil {
		if errors.Is(err, events.ErrUnknownVersion) {
			p.unknownVersion.Add(1)
		} else {
			p.malformed.Add(1)
		}
		p.applied.Store(seq)
		return err
	}
	p.Apply(seq, storedAt, ev)
	return nil
}

// Apply folds ev, stored at stream sequence seq at time storedAt, into the
// state. Sequences at or below the last one applied are ignored, so replaying
// overlapping ranges of the stream is harmless.
func (p *Projection) Apply(seq uint64, storedAt time.Time, ev events.Event) {
	if seq <= p.applied.Load() {
		return
	}
	e := entry{seq: seq, activeMS: storedAt.UnixMilli(), presence: encodePresence(ev.Presence)}
	if ev.StatusMsg != nil && *ev.StatusMsg != "" {
		msg := *ev.StatusMsg
		e.msg = &msg
	}
	s := p.shardFor(ev.UserID)
	s.mu.Lock()
	old, existed := s.users[ev.UserID]
	if !existed || old.seq < seq {
		s.users[ev.UserID] = e
	}
	s.mu.Unlock()
	if !existed {
		p.users.Add(1)
	}
	p.applied.Store(seq)
}

// AppliedSeq is the highest stream sequence the projection has applied.
func (p *Projection) AppliedSeq() uint64 { return p.applied.Load() }

// Len is the number of users with a state.
func (p *Projection) Len() int { return int(p.users.Load()) }

// Counters reports events skipped because they were written in a newer schema
// version, and events skipped because they were malformed.
func (p *Projection) Counters() (unknownVersion, malformed uint64) {
	return p.unknownVersion.Load(), p.malformed.Load()
}

// Record is the stored state of one user, as the stream set it.
type Record struct {
	UserID    string
	Seq       uint64
	ActiveAt  time.Time
	Presence  events.Presence
	StatusMsg string // empty when none
}

// Lookup returns the stored state of userID.
func (p *Projection) Lookup(userID string) (Record, bool) {
	s := p.shardFor(userID)
	s.mu.RLock()
	e, ok := s.users[userID]
	s.mu.RUnlock()
	if !ok {
		return Record{}, false
	}
	return e.record(userID), true
}

func (e entry) record(userID string) Record {
	r := Record{
		UserID:   userID,
		Seq:      e.seq,
		ActiveAt: time.UnixMilli(e.activeMS),
		Presence: decodePresence(e.presence),
	}
	if e.msg != nil {
		r.StatusMsg = *e.msg
	}
	return r
}

// Range calls fn for every user's record, in no particular order, until fn
// returns false. Each shard is read-locked while it is visited.
func (p *Projection) Range(fn func(Record) bool) {
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.RLock()
		for id, e := range s.users {
			if !fn(e.record(id)) {
				s.mu.RUnlock()
				return
			}
		}
		s.mu.RUnlock()
	}
}

const (
	codeOffline uint8 = iota
	codeUnavailable
	codeOnline
)

func encodePresence(p events.Presence) uint8 {
	switch p {
	case events.Online:
		return codeOnline
	case events.Unavailable:
		return codeUnavailable
	}
	return codeOffline
}

func decodePresence(c uint8) events.Presence {
	switch c {
	case codeOnline:
		return events.Online
	case codeUnavailable:
		return events.Unavailable
	}
	return events.Offline
}
