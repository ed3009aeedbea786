package projection

import (
	"time"

	"github.com/presenced/presenced/events"
)

// DefaultActiveWindow is how recent the last activity must be for an online
// user to be reported as currently_active (Synapse uses the same 60 s).
const DefaultActiveWindow = 60 * time.Second

// DefaultSyncTimeout is how long after its last sync (and its long-poll
// hold) a device counts as syncing: Synapse's SYNC_ONLINE_TIMEOUT.
const DefaultSyncTimeout = 30 * time.Second

// DefaultFederationTimeout is how long a remote user's state holds without
// a federation update: Synapse's FEDERATION_TIMEOUT.
const DefaultFederationTimeout = 30 * time.Minute

// Policy turns a stored state into what a reader is shown at a given time.
type Policy struct {
	// IdleTimeout turns an online device with no activity for this long into
	// unavailable. Zero disables it.
	IdleTimeout time.Duration
	// OfflineTimeout turns a device that never synced (and every version-1
	// state) with no activity for this long into offline. Zero disables it.
	OfflineTimeout time.Duration
	// ActiveWindow is how recent activity must be for currently_active.
	// Zero means DefaultActiveWindow.
	ActiveWindow time.Duration
	// SyncTimeout is how long a device that syncs stays after its last sync
	// (plus that sync's hold) or activity. Zero means DefaultSyncTimeout.
	// A third of it is the granularity below which heartbeats are absorbed.
	SyncTimeout time.Duration
	// FederationTimeout turns a remote user offline this long after the
	// store time of their last federation update. Zero means
	// DefaultFederationTimeout.
	FederationTimeout time.Duration
}

// withDefaults fills the zero durations that mean a default.
func (pol Policy) withDefaults() Policy {
	if pol.ActiveWindow == 0 {
		pol.ActiveWindow = DefaultActiveWindow
	}
	if pol.SyncTimeout <= 0 {
		pol.SyncTimeout = DefaultSyncTimeout
	}
	if pol.FederationTimeout <= 0 {
		pol.FederationTimeout = DefaultFederationTimeout
	}
	return pol
}

// Granularity is the age below which a heartbeat that changes nothing a
// reader sees is absorbed rather than stored: a third of the sync timeout,
// so that a device heartbeating at least that often is stored at least twice
// per timeout and never expires.
func (pol Policy) Granularity() time.Duration { return pol.withDefaults().SyncTimeout / 3 }

// Status is a user's presence as seen at one instant.
type Status struct {
	Presence        events.Presence
	LastActiveAgo   time.Duration // never negative
	StatusMsg       string        // empty when none
	CurrentlyActive bool          // meaningful only when Presence is online
	Seq             uint64        // stream sequence of the state
}

// Status returns what userID's presence reads as at now.
func (p *Projection) Status(userID string, now time.Time, pol Policy) (Status, bool) {
	r, ok := p.Lookup(userID)
	if !ok {
		return Status{}, false
	}
	return r.StatusAt(now, pol), true
}

// StatusAt applies pol to the record as read at now. Time only ever decays a
// state (online → unavailable → offline, a device that syncs dropped at its
// deadline); it never raises one.
//
// Each device reads on its own: a device that synced is dropped once its
// sync deadline has passed; an online device idle for IdleTimeout reads
// unavailable; a device that never synced reads offline after
// OfflineTimeout. The user's presence is the strongest device left (online >
// unavailable > offline, offline when none is), as in Synapse. A state
// without devices is its device-less slot, so a version-1 state reads
// exactly as it always has. A remote user's state is as received until the
// federation timeout, then offline.
func (r Record) StatusAt(now time.Time, pol Policy) Status {
	ago := now.Sub(r.ActiveAt)
	if ago < 0 {
		ago = 0
	}
	st := Status{LastActiveAgo: ago, StatusMsg: r.StatusMsg, Seq: r.Seq}
	st.Presence, st.CurrentlyActive = r.visibleAt(now, pol.withDefaults())
	return st
}

// visibleAt is the part of StatusAt that changes only at timer transitions:
// the presence and currently_active. pol has its defaults filled.
func (r Record) visibleAt(now time.Time, pol Policy) (events.Presence, bool) {
	if x := r.x; x != nil && x.remote {
		if !now.Before(time.UnixMilli(x.storedMS).Add(pol.FederationTimeout)) {
			return events.Offline, false
		}
		return r.Presence, r.Presence == events.Online && x.curActive
	}
	best := codeOffline
	if r.x == nil || len(r.x.devs) == 0 {
		best = slotPresence(encodePresence(r.Presence), r.ActiveAt, now, pol)
	} else {
		for i := range r.x.devs {
			if c, live := r.x.devs[i].presenceAt(now, pol); live && c > best {
				best = c
			}
		}
	}
	p := decodePresence(best)
	return p, p == events.Online && max(now.Sub(r.ActiveAt), 0) < pol.ActiveWindow
}

// slotPresence is how a state set without sync (a version-1 state, a device
// that never synced) reads at now: online decays to unavailable after the
// idle timeout, and anything to offline after the offline timeout.
func slotPresence(code uint8, activeAt, now time.Time, pol Policy) uint8 {
	ago := now.Sub(activeAt)
	if code == codeOnline && pol.IdleTimeout > 0 && ago >= pol.IdleTimeout {
		code = codeUnavailable
	}
	if pol.OfflineTimeout > 0 && ago >= pol.OfflineTimeout {
		code = codeOffline
	}
	return code
}

// presenceAt is how device d reads at now, and whether it is still there.
func (d *xdev) presenceAt(now time.Time, pol Policy) (uint8, bool) {
	activeAt := time.UnixMilli(d.activeMS)
	if !d.synced() {
		return slotPresence(d.pres, activeAt, now, pol), true
	}
	if !now.Before(d.deadline(pol)) {
		return codeOffline, false
	}
	code := d.pres
	if code == codeOnline && pol.IdleTimeout > 0 && now.Sub(activeAt) >= pol.IdleTimeout {
		code = codeUnavailable
	}
	return code, true
}

// deadline is when a device that synced is dropped: the sync timeout after
// the later of the end of its last sync's hold and its last activity (the
// rule of Synapse, which counts activity as a sign of life too).
func (d *xdev) deadline(pol Policy) time.Time {
	last := max(d.syncMS+int64(d.holdMS), d.activeMS)
	return time.UnixMilli(last).Add(pol.SyncTimeout)
}
