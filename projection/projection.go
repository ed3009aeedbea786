package projection

import (
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/events"
)

// shardCount spreads users over independently locked tables so that readers
// rarely wait on the single writer.
const shardCount = 64

type shard struct {
	mu sync.RWMutex
	t  *table
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

	feed   *feed   // nil unless Options.Feed
	timers *timers // nil unless Options.Timers
}

// Options selects the indexes a projection keeps beside the state. Each
// costs memory per user, and only a node serving the fleet API needs them.
type Options struct {
	// Feed keeps the change feed (Changes).
	Feed bool
	// Timers keeps every user's next timer transition (Due, NextDue).
	Timers bool
	// Policy is the policy the timer index computes transitions with; it
	// must be the one the node reads states with.
	Policy Policy
	// TimerRetry is how long Due waits before offering a user again; zero
	// means DefaultTimerRetry.
	TimerRetry time.Duration
}

// New returns an empty projection sized for about sizeHint users, keeping
// the indexes opts (at most one) selects.
func New(sizeHint int, opts ...Options) *Projection {
	p := &Projection{seed: maphash.MakeSeed()}
	for i := range p.shards {
		p.shards[i].t = newTable(sizeHint / shardCount)
	}
	if len(opts) > 0 {
		o := opts[0]
		if o.Feed {
			p.feed = &feed{}
		}
		if o.Timers {
			p.timers = &timers{pol: o.Policy.withDefaults(), retry: o.TimerRetry}
			if p.timers.retry <= 0 {
				p.timers.retry = DefaultTimerRetry
			}
		}
	}
	return p
}

func (p *Projection) hash(userID string) uint64 { return maphash.String(p.seed, userID) }

func (p *Projection) hashBytes(b []byte) uint64 { return maphash.Bytes(p.seed, b) }

// shardOf picks a shard from the hash's high bits; tables use the low bits.
func (p *Projection) shardOf(h uint64) *shard { return &p.shards[h>>58] }

// ApplyMessage decodes data and applies it at stream sequence seq, stored at
// storedAt. A message that is malformed or written in a schema version newer
// than this build understands is skipped (see Skip) and its error returned.
func (p *Projection) ApplyMessage(seq uint64, storedAt time.Time, data []byte) error {
	if seq <= p.applied.Load() {
		return nil
	}
	ev, err := events.Decode(data)
	if err != nil {
		p.Skip(seq, err)
		return err
	}
	p.Apply(seq, storedAt, ev)
	return nil
}

// Skip records that the message at stream sequence seq is not applied
// because of err: it is counted as written in an unknown (newer) schema
// version when err is events.ErrUnknownVersion, as malformed otherwise. Its
// sequence still counts as applied, so a reader waiting for it is not left
// hanging.
func (p *Projection) Skip(seq uint64, err error) {
	if seq <= p.applied.Load() {
		return
	}
	if errors.Is(err, events.ErrUnknownVersion) {
		p.unknownVersion.Add(1)
	} else {
		p.malformed.Add(1)
	}
	p.applied.Store(seq)
}

// Pass records the message at stream sequence seq as applied without
// changing any state: it is no presence event but a consistent read's
// barrier, which readers wait for like any other sequence.
func (p *Projection) Pass(seq uint64) {
	if seq > p.applied.Load() {
		p.applied.Store(seq)
	}
}

// Apply folds ev, stored at stream sequence seq at time storedAt, into the
// state. Sequences at or below the last one applied are ignored, so replaying
// overlapping ranges of the stream is harmless.
func (p *Projection) Apply(seq uint64, storedAt time.Time, ev events.Event) {
	if seq <= p.applied.Load() {
		return
	}
	h := p.hash(ev.UserID)
	si := int(h >> 58)
	s := &p.shards[si]
	s.mu.Lock()
	t := s.t
	i, ok := t.find(ev.UserID, h)
	var e *entry
	if ok {
		e = t.entry(i)
	} else {
		i = t.n
		e = t.insert(ev.UserID, h, p.hashBytes)
	}
	prev := e.seq
	e.seq = seq
	activeMS, x := fold(storedAt, ev, true)
	msg := ""
	if x == nil && ev.StatusMsg != nil && *ev.StatusMsg != "" {
		msg = strings.Clone(*ev.StatusMsg) // do not pin the decoded message
	}
	t.setExt(i, e, activeMS, encodePresence(ev.Presence), msg, x)
	var rec Record
	if p.timers != nil {
		rec = t.record(i, ev.UserID)
	}
	s.mu.Unlock()
	if !ok {
		p.users.Add(1)
	}
	// The indexes are updated after the shard's lock is released, so that
	// a reader holding an index's lock never waits for a shard's writer
	// that waits for it.
	if p.feed != nil {
		p.feed.add(prev, seq, refOf(si, i))
	}
	if p.timers != nil {
		p.timers.set(refOf(si, i), NextTransition(rec, p.timers.pol))
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

// Record is the stored state of one user, as the stream set it. The
// version-2 part (devices, store time, remote flags) is reached through
// methods (Devices, StoredAt, Remote, ...), so that a Record stays a small
// comparable value and a version-1 user's costs nothing more.
type Record struct {
	UserID    string
	Seq       uint64
	ActiveAt  time.Time       // the user's last activity
	Presence  events.Presence // the event's presence; with devices, their combination at the store time
	StatusMsg string          // empty when none

	x *xstate // nil for a version-1 state; shared, never modified
}

// Lookup returns the stored state of userID.
func (p *Projection) Lookup(userID string) (Record, bool) {
	h := p.hash(userID)
	s := p.shardOf(h)
	s.mu.RLock()
	i, ok := s.t.find(userID, h)
	var r Record
	if ok {
		r = s.t.record(i, userID)
	}
	s.mu.RUnlock()
	return r, ok
}

// record builds the Record of entry i, whose user ID is userID.
func (t *table) record(i uint32, userID string) Record {
	e := t.entry(i)
	if x := t.extOf(i, e); x != nil {
		return Record{UserID: userID, Seq: e.seq, ActiveAt: time.UnixMilli(e.activeMS()), Presence: decodePresence(x.pres), StatusMsg: x.msg, x: x}
	}
	return Record{
		UserID:    userID,
		Seq:       e.seq,
		ActiveAt:  time.UnixMilli(e.activeMS()),
		Presence:  decodePresence(e.presence()),
		StatusMsg: t.msgOf(i, e),
	}
}

// Range calls fn for every user's record, in no particular order, until fn
// returns false. Each shard is read-locked while it is visited.
func (p *Projection) Range(fn func(Record) bool) {
	for si := range p.shards {
		s := &p.shards[si]
		s.mu.RLock()
		t := s.t
		more := true
		t.each(func(i uint32, id []byte) bool {
			more = fn(t.record(i, string(id)))
			return more
		})
		s.mu.RUnlock()
		if !more {
			return
		}
	}
}

const (
	codeOffline uint8 = iota
	codeUnavailable
	codeOnline
	codeExt // in an entry only: the state is in the table's extended slice
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
