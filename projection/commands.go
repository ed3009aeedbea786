package projection

import (
	"slices"
	"time"

	"github.com/presenced/presenced/events"
)

// The writer functions below turn a command (a PUT, a sync, an activity, a
// federation update, a timer running out) and the user's current record into
// the complete event to store next, and say whether storing it is needed at
// all. They are pure: the caller looks the record up, calls one, publishes
// the event (with the record's sequence as the expected last subject
// sequence, so that a concurrent write is not overwritten) and retries from
// a fresh record on conflict.
//
// now is the caller's clock. It decides which devices are gone and whether a
// heartbeat can be absorbed, but it is never written: a time the new event
// records is left absent (its store time, from the stream leader's clock),
// and times carried forward are the absolute times earlier store times gave.
// Origin and RequestID are left for the caller to fill.

// PutCommand is a PUT of the client API.
type PutCommand struct {
	UserID    string
	DeviceID  string // "" when the authenticator knows no device
	Presence  events.Presence
	StatusMsg *string // replaces the stored message; nil clears it
}

// SyncCommand is one /sync request of a device, as the homeserver reports it.
type SyncCommand struct {
	UserID      string
	DeviceID    string
	SetPresence events.Presence // as the client gave it; "" means online
	HoldMS      int64           // the long-poll timeout of the sync, 0 if unknown
}

// ActiveCommand is user activity on a device: a message, receipt, read
// marker or typing notification.
type ActiveCommand struct {
	UserID   string
	DeviceID string
}

// FederationItem is one entry of an m.presence EDU's push list.
type FederationItem struct {
	UserID          string
	Presence        events.Presence
	LastActiveAgo   *int64 // ms; nil means the activity is the time of receipt
	StatusMsg       *string
	CurrentlyActive *bool
}

// Put is the event a PUT stores: the device's state set (pinned when
// unavailable, so that syncs do not raise it), its activity and the user's
// now, the status message replaced. A device that has synced keeps its
// sync liveness. A device-less PUT on a user with no devices is the plain
// version-1 event nodes have always written. A PUT is always stored.
func Put(cur Record, ok bool, c PutCommand, now time.Time, pol Policy) (events.Event, bool) {
	pol = pol.withDefaults()
	devs := liveDevices(cur, ok, now, pol)
	i := deviceIndex(&devs, c.DeviceID)
	d := &devs[i]
	d.Presence = c.Presence
	d.Pinned = c.Presence == events.Unavailable
	d.ActiveTS = nil
	ev := events.Event{UserID: c.UserID, StatusMsg: nonEmpty(c.StatusMsg), Devices: devs}
	return finish(ev, events.KindPut, c.DeviceID, now, pol), true
}

// Sync is the event a device's sync stores. set_presence offline means the
// sync does not touch presence (Synapse's affect_presence=false): nothing
// is stored; nor is anything for a value that is not a presence state, which
// the caller is expected to have refused (400 M_INVALID_PARAM, SY20). Otherwise the device is marked as syncing, takes the given
// presence unless it is pinned unavailable, and an online sync is activity
// of the device and the user (as Synapse counts it). A sync never changes
// the status message.
//
// A sync that changes nothing a reader sees, on a device whose stored sync is
// younger than the granularity and whose deadline would move by no more than
// that, is absorbed: publish is false. A device heartbeating at least once
// per granularity is therefore stored at most about once per granularity,
// and each store moves its deadline a full sync timeout ahead of the last.
func Sync(cur Record, ok bool, c SyncCommand, now time.Time, pol Policy) (events.Event, bool) {
	pol = pol.withDefaults()
	set := c.SetPresence
	if set == "" {
		set = events.Online
	}
	if set == events.Offline || !set.Valid() {
		return events.Event{}, false
	}
	devs := liveDevices(cur, ok, now, pol)
	n := len(devs)
	i := deviceIndex(&devs, c.DeviceID)
	old, existed := devs[i], i < n
	d := &devs[i]
	d.Synced, d.SyncTS, d.HoldMS = true, nil, min(max(c.HoldMS, 0), events.MaxHoldMS)
	if !(d.Pinned && d.Presence == events.Unavailable) {
		d.Presence, d.Pinned = set, false
	}
	ev := events.Event{UserID: c.UserID, StatusMsg: msgOf(cur, ok), ActiveTS: userActive(cur, ok)}
	if d.Presence == events.Online {
		d.ActiveTS, ev.ActiveTS = nil, nil
	}
	ev.Devices = devs
	ev = finish(ev, events.KindSync, c.DeviceID, now, pol)
	if existed && old.Synced && old.Presence == d.Presence && old.Pinned == d.Pinned &&
		youngerThan(old.SyncTS, now, pol.Granularity()) && sameVisible(cur, ev, now, pol) {
		next := RecordOf(0, now, ev)
		if moved := deviceDeadline(next, c.DeviceID, pol).Sub(deviceDeadline(cur, c.DeviceID, pol)); moved.Abs() <= pol.Granularity() {
			return ev, false
		}
	}
	return ev, true
}

// Active is the event user activity stores: the device's activity and the
// user's now, and an unavailable device (pinned or not) online again. As in
// Synapse, activity does not raise an offline device, and a device with no
// state gets none: only the user's activity moves.
//
// It is absorbed (publish false) when it changes nothing a reader sees (the
// presence, currently_active) and both the user's stored activity and the
// device's are younger than the granularity: only last_active_ago would be
// a little fresher. As in Synapse, a bump of a user who is not currently
// active is always shown once it is older than the granularity.
func Active(cur Record, ok bool, c ActiveCommand, now time.Time, pol Policy) (events.Event, bool) {
	pol = pol.withDefaults()
	devs := liveDevices(cur, ok, now, pol)
	var old events.Device
	existed := false
	for i := range devs {
		if d := &devs[i]; d.ID == c.DeviceID {
			old, existed = *d, true
			if d.Presence == events.Unavailable {
				d.Presence, d.Pinned = events.Online, false
			}
			d.ActiveTS = nil
		}
	}
	ev := finish(events.Event{UserID: c.UserID, StatusMsg: msgOf(cur, ok), Devices: devs}, events.KindActive, c.DeviceID, now, pol)
	if !ok {
		return ev, true
	}
	g := pol.Granularity()
	deviceFresh := !existed || old.Presence == deviceState(ev, c.DeviceID) && youngerThan(old.ActiveTS, now, g)
	if deviceFresh && now.Sub(cur.ActiveAt) < g && sameVisible(cur, ev, now, pol) {
		return ev, false
	}
	return ev, true
}

// deviceState is the stored presence of device id in ev. A device that
// finish folded into the version-1 form is ev's own presence.
func deviceState(ev events.Event, id string) events.Presence {
	if len(ev.Devices) == 0 {
		return ev.Presence
	}
	for _, d := range ev.Devices {
		if d.ID == id {
			return d.Presence
		}
	}
	return events.Offline
}

// Federation is the event a remote user's presence from an m.presence EDU
// stores: taken as given, without devices, its activity last_active_ago
// before the store time (the time of receipt when absent). A repeat of
// the stored state within the granularity is absorbed, so that a chatty
// remote server does not flood the stream.
func Federation(cur Record, ok bool, it FederationItem, now time.Time, pol Policy) (events.Event, bool) {
	pol = pol.withDefaults()
	ev := events.Event{UserID: it.UserID, Presence: it.Presence, StatusMsg: nonEmpty(it.StatusMsg), Kind: events.KindFederation, Remote: true}
	if it.LastActiveAgo != nil {
		ago := min(max(*it.LastActiveAgo, 0), events.MaxTimestampMS)
		ev.ActiveAgo = &ago
	}
	if it.CurrentlyActive != nil && *it.CurrentlyActive {
		ev.CurrentlyActive = it.CurrentlyActive
	}
	if ok && cur.Remote() {
		g := pol.Granularity()
		next := RecordOf(0, now, ev)
		if now.Sub(cur.StoredAt()) < g && next.ActiveAt.Sub(cur.ActiveAt).Abs() < g && sameVisible(cur, ev, now, pol) {
			return ev, false
		}
	}
	return ev, true
}

// Expire is the event that makes a timer transition durable, once one is
// due (now at or after NextTransition): the state as it reads from now on,
// with devices that are gone removed and every time absolute. A device that
// only went idle keeps its presence: reading decays it, as it would have the
// old record. StatusAt of the new record equals that of the old at every
// instant from now on, and its NextTransition is the transition after this
// one, so a transition is stored once. publish is false when none is due.
func Expire(cur Record, now time.Time, pol Policy) (events.Event, bool) {
	pol = pol.withDefaults()
	next := NextTransition(cur, pol)
	if next.IsZero() || now.Before(next) {
		return events.Event{}, false
	}
	ms := cur.ActiveAt.UnixMilli()
	if cur.Remote() {
		return events.Event{UserID: cur.UserID, Presence: events.Offline, StatusMsg: msgOf(cur, true),
			Kind: events.KindExpire, Remote: true, ActiveTS: &ms}, true
	}
	ev := events.Event{UserID: cur.UserID, StatusMsg: msgOf(cur, true), ActiveTS: &ms, Devices: liveDevices(cur, true, now, pol)}
	// The devices come from a valid record, so there are never too many to
	// keep and which one finish would favour does not matter.
	return finish(ev, events.KindExpire, "", now, pol), true
}

// liveDevices is the user's devices that still count at now, every time
// absolute, ready to be written forward. A synced device past its deadline
// is gone; a device that never synced and reads offline carries nothing a
// reader could see and is dropped too. A state without devices (every
// version-1 state) is its device-less slot; having been set by PUT, an
// unavailable one is pinned.
func liveDevices(cur Record, ok bool, now time.Time, pol Policy) []events.Device {
	if !ok || cur.Remote() {
		return nil
	}
	if cur.x == nil || len(cur.x.devs) == 0 {
		code := encodePresence(cur.Presence)
		if slotPresence(code, cur.ActiveAt, now, pol) == codeOffline {
			return nil
		}
		ms := cur.ActiveAt.UnixMilli()
		return []events.Device{{ID: "", Presence: cur.Presence, ActiveTS: &ms, Pinned: cur.Presence == events.Unavailable}}
	}
	out := make([]events.Device, 0, len(cur.x.devs)+1)
	for i := range cur.x.devs {
		d := &cur.x.devs[i]
		code, live := d.presenceAt(now, pol)
		if !live || !d.synced() && code == codeOffline {
			continue
		}
		active := d.activeMS
		ed := events.Device{ID: d.id, Presence: decodePresence(d.pres), ActiveTS: &active, Pinned: d.pinned()}
		if d.synced() {
			sync := d.syncMS
			ed.Synced, ed.SyncTS, ed.HoldMS = true, &sync, int64(d.holdMS)
		}
		out = append(out, ed)
	}
	return out
}

// deviceIndex returns the index of device id in *devs, adding a new
// (offline, never synced) device when it is not there.
func deviceIndex(devs *[]events.Device, id string) int {
	for i := range *devs {
		if (*devs)[i].ID == id {
			return i
		}
	}
	*devs = append(*devs, events.Device{ID: id, Presence: events.Offline})
	return len(*devs) - 1
}

// finish completes ev (its devices set, Presence not yet): it keeps at most
// events.MaxDevices devices, dropping the least recently seen other than
// keep; folds a lone device-less slot back into the version-1 form; and
// sets Presence to what the devices combine to at the store time.
func finish(ev events.Event, kind events.Kind, keep string, now time.Time, pol Policy) events.Event {
	if len(ev.Devices) > events.MaxDevices {
		slices.SortStableFunc(ev.Devices, func(a, b events.Device) int {
			return compareSeen(b, a, keep)
		})
		ev.Devices = ev.Devices[:events.MaxDevices]
	}
	switch {
	case len(ev.Devices) == 0:
		ev.Presence, ev.Devices = events.Offline, nil
	case len(ev.Devices) == 1 && isPlainSlot(ev.Devices[0], ev.ActiveTS):
		ev.Presence, ev.Devices = ev.Devices[0].Presence, nil
	default:
		ev.Presence = events.Offline // valid placeholder while reading it
		p, _ := RecordOf(0, now, ev).visibleAt(now, pol)
		ev.Presence = p
	}
	if ev.Version() > 1 || kind != events.KindPut {
		ev.Kind = kind
	}
	return ev
}

// isPlainSlot reports whether d, the only device, says no more than a
// version-1 state would: the device-less slot, never synced, pinned exactly
// when unavailable, with the user's own activity time.
func isPlainSlot(d events.Device, userActive *int64) bool {
	sameActive := d.ActiveTS == nil && userActive == nil || d.ActiveTS != nil && userActive != nil && *d.ActiveTS == *userActive
	return d.ID == "" && !d.Synced && d.Pinned == (d.Presence == events.Unavailable) && sameActive
}

// compareSeen orders devices by when they were last seen (activity or
// sync; absent means the new event's store time, the latest of all), with
// keep above every other.
func compareSeen(a, b events.Device, keep string) int {
	if (a.ID == keep) != (b.ID == keep) {
		if a.ID == keep {
			return 1
		}
		return -1
	}
	return compareMS(seenMS(a), seenMS(b))
}

func seenMS(d events.Device) int64 {
	if d.ActiveTS == nil || d.Synced && d.SyncTS == nil {
		return events.MaxTimestampMS + 1
	}
	seen := *d.ActiveTS
	if d.SyncTS != nil {
		seen = max(seen, *d.SyncTS)
	}
	return seen
}

func compareMS(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sameVisible reports whether ev, stored now, reads at now as cur does in
// what a change-feed reader is shown apart from last_active_ago.
func sameVisible(cur Record, ev events.Event, now time.Time, pol Policy) bool {
	next := RecordOf(0, now, ev)
	p0, a0 := cur.visibleAt(now, pol)
	p1, a1 := next.visibleAt(now, pol)
	return p0 == p1 && a0 == a1 && cur.StatusMsg == next.StatusMsg
}

// deviceDeadline is the sync deadline of device id in r (zero if it has
// no such synced device).
func deviceDeadline(r Record, id string, pol Policy) time.Time {
	if r.x != nil {
		for i := range r.x.devs {
			if d := &r.x.devs[i]; d.id == id && d.synced() {
				return d.deadline(pol)
			}
		}
	}
	return time.Time{}
}

// youngerThan reports whether the absolute time ms (nil: not stored yet)
// is less than g before now.
func youngerThan(ms *int64, now time.Time, g time.Duration) bool {
	return ms != nil && now.Sub(time.UnixMilli(*ms)) < g
}

// userActive is the user's activity carried forward (nil when there is no
// record: a new user's activity is this event).
func userActive(cur Record, ok bool) *int64 {
	if !ok {
		return nil
	}
	ms := cur.ActiveAt.UnixMilli()
	return &ms
}

func msgOf(cur Record, ok bool) *string {
	if !ok || cur.StatusMsg == "" {
		return nil
	}
	m := cur.StatusMsg
	return &m
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}
