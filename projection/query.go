package projection

import (
	"time"

	"github.com/presenced/presenced/events"
)

// DefaultActiveWindow is how recent the last activity must be for an online
// user to be reported as currently_active (Synapse uses the same 60 s).
const DefaultActiveWindow = 60 * time.Second

// Policy turns a stored state into what a reader is shown at a given time.
type Policy struct {
	// IdleTimeout turns an online user with no activity for this long into
	// unavailable. Zero disables it.
	IdleTimeout time.Duration
	// OfflineTimeout turns any user with no activity for this long into
	// offline. Zero disables it.
	OfflineTimeout time.Duration
	// ActiveWindow is how recent activity must be for currently_active.
	ActiveWindow time.Duration
}

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
// state (online → unavailable → offline); it never raises one.
func (r Record) StatusAt(now time.Time, pol Policy) Status {
	ago := now.Sub(r.ActiveAt)
	if ago < 0 {
		ago = 0
	}
	st := Status{Presence: r.Presence, LastActiveAgo: ago, StatusMsg: r.StatusMsg, Seq: r.Seq}
	if st.Presence == events.Online && pol.IdleTimeout > 0 && ago >= pol.IdleTimeout {
		st.Presence = events.Unavailable
	}
	if pol.OfflineTimeout > 0 && ago >= pol.OfflineTimeout {
		st.Presence = events.Offline
	}
	window := pol.ActiveWindow
	if window == 0 {
		window = DefaultActiveWindow
	}
	st.CurrentlyActive = st.Presence == events.Online && ago < window
	return st
}
