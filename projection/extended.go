package projection

import (
	"strings"
	"time"

	"github.com/presenced/presenced/events"
)

// xstate is the version-2 part of a user's state: the store time, the
// devices and the remote flags. Users whose latest event used no version-2
// field have none, so they cost no more than before it existed. An xstate is
// never changed once stored (Apply stores a new one), so a Record can share
// it with the table and be read without a lock.
type xstate struct {
	storedMS  int64
	msg       string
	devs      []xdev
	pres      uint8 // presence code of the event's top-level presence
	kind      uint8
	remote    bool
	curActive bool // currently_active as a remote server gave it
}

// xdev is one device with every time absolute (Unix ms), compact because a
// fleet that syncs gives most users one or more.
type xdev struct {
	id       string
	activeMS int64
	syncMS   int64 // meaningful when synced
	holdMS   uint32
	pres     uint8
	flags    uint8
}

const (
	devSynced uint8 = 1 << iota
	devPinned
)

func (d *xdev) synced() bool { return d.flags&devSynced != 0 }
func (d *xdev) pinned() bool { return d.flags&devPinned != 0 }

var kinds = [...]events.Kind{"", events.KindPut, events.KindSync, events.KindActive, events.KindExpire, events.KindFederation}

func encodeKind(k events.Kind) uint8 {
	for i, v := range kinds {
		if v == k {
			return uint8(i)
		}
	}
	return 0
}

// Device is the state of one device of a user, every time absolute.
type Device struct {
	ID       string // "" for the device-less slot
	Presence events.Presence
	ActiveAt time.Time // last activity of the device
	Synced   bool      // the device has called sync; it is dropped at its deadline
	SyncAt   time.Time // last stored sync; zero unless Synced
	Hold     time.Duration
	Pinned   bool // unavailable set by PUT: a sync does not raise it
}

// RecordOf is the Record that an event stored at sequence seq and time
// storedAt gives its user: what Lookup returns after Apply. It lets a caller
// see what an event it is about to publish will read as.
func RecordOf(seq uint64, storedAt time.Time, ev events.Event) Record {
	activeMS, x := fold(storedAt, ev, false)
	r := Record{UserID: ev.UserID, Seq: seq, ActiveAt: time.UnixMilli(activeMS), Presence: decodePresence(encodePresence(ev.Presence)), x: x}
	if x != nil {
		r.StatusMsg = x.msg
	} else if ev.StatusMsg != nil {
		r.StatusMsg = *ev.StatusMsg
	}
	return r
}

// fold turns ev, stored at storedAt, into the user's activity time (Unix ms,
// never negative) and, when ev uses version-2 fields, its xstate. clone
// copies the strings the state keeps, so that a decoded message is not
// pinned by them.
func fold(storedAt time.Time, ev events.Event, clone bool) (activeMS int64, x *xstate) {
	stored := max(storedAt.UnixMilli(), 0)
	activeMS = stored
	if ev.Version() == 1 {
		return activeMS, nil
	}
	switch {
	case ev.ActiveTS != nil:
		activeMS = *ev.ActiveTS
	case ev.ActiveAgo != nil:
		activeMS = max(stored-*ev.ActiveAgo, 0)
	}
	x = &xstate{storedMS: stored, pres: encodePresence(ev.Presence), kind: encodeKind(ev.Kind), remote: ev.Remote,
		curActive: ev.CurrentlyActive != nil && *ev.CurrentlyActive}
	if ev.StatusMsg != nil && *ev.StatusMsg != "" {
		x.msg = maybeClone(*ev.StatusMsg, clone)
	}
	if len(ev.Devices) > 0 {
		x.devs = make([]xdev, len(ev.Devices))
		for i, d := range ev.Devices {
			xd := xdev{id: maybeClone(d.ID, clone), activeMS: orMS(d.ActiveTS, stored), pres: encodePresence(d.Presence)}
			if d.Synced {
				xd.flags |= devSynced
				xd.syncMS = orMS(d.SyncTS, stored)
				xd.holdMS = uint32(min(max(d.HoldMS, 0), events.MaxHoldMS))
			}
			if d.Pinned && d.Presence == events.Unavailable {
				xd.flags |= devPinned
			}
			x.devs[i] = xd
		}
	}
	return activeMS, x
}

func orMS(v *int64, def int64) int64 {
	if v == nil {
		return def
	}
	return *v
}

func maybeClone(s string, clone bool) string {
	if clone {
		return strings.Clone(s)
	}
	return s
}

// Extended reports whether the record holds version-2 state (devices,
// remote flags or a store time apart from the activity time).
func (r Record) Extended() bool { return r.x != nil }

// StoredAt is when the record's event was stored. For a version-1 event it is
// ActiveAt: every such event is the user's activity.
func (r Record) StoredAt() time.Time {
	if r.x == nil {
		return r.ActiveAt
	}
	return time.UnixMilli(r.x.storedMS)
}

// Kind is why the record's event was written (empty for a PUT of version 1).
func (r Record) Kind() events.Kind {
	if r.x == nil {
		return ""
	}
	return kinds[r.x.kind]
}

// Remote reports whether the record is another server's user's state as
// received over federation.
func (r Record) Remote() bool { return r.x != nil && r.x.remote }

// GivenCurrentlyActive is currently_active as a remote server gave it
// (false for local users, whose currently_active is computed).
func (r Record) GivenCurrentlyActive() bool { return r.x != nil && r.x.curActive }

// Devices returns a copy of the user's devices, as stored (not decayed).
// A version-1 state, or a version-2 one without devices, has none: its
// Presence and ActiveAt are the state of the device-less slot.
func (r Record) Devices() []Device {
	if r.x == nil || len(r.x.devs) == 0 {
		return nil
	}
	out := make([]Device, len(r.x.devs))
	for i := range r.x.devs {
		d := &r.x.devs[i]
		out[i] = Device{ID: d.id, Presence: decodePresence(d.pres), ActiveAt: time.UnixMilli(d.activeMS), Synced: d.synced(), Pinned: d.pinned()}
		if d.synced() {
			out[i].SyncAt = time.UnixMilli(d.syncMS)
			out[i].Hold = time.Duration(d.holdMS) * time.Millisecond
		}
	}
	return out
}
