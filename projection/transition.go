package projection

import (
	"slices"
	"time"
)

// maxCandidates bounds the instants NextTransition looks at: a few per
// device and two for the user.
const maxCandidates = 3*64 + 2

// NextTransition is the first instant strictly after r's store time at
// which what StatusAt shows changes (its presence or currently_active; the
// ticking last_active_ago does not count), or the zero time if it never
// does. Every such change happens when a timer runs out, so the candidates
// are the timers' deadlines; the first at which the reading differs from
// the one at the store time is the answer. The timer index and Expire use
// it, so that each transition is stored exactly once.
func NextTransition(r Record, pol Policy) time.Time {
	pol = pol.withDefaults()
	stored := r.StoredAt()
	var buf [maxCandidates]time.Duration
	cands := buf[:0]
	add := func(t time.Time) {
		if d := t.Sub(stored); d > 0 && len(cands) < len(buf) {
			cands = append(cands, d)
		}
	}
	switch {
	case r.x != nil && r.x.remote:
		add(stored.Add(pol.FederationTimeout))
	case r.x == nil || len(r.x.devs) == 0:
		addSlotTimers(add, encodePresence(r.Presence), r.ActiveAt, pol)
		add(r.ActiveAt.Add(pol.ActiveWindow))
	default:
		for i := range r.x.devs {
			d := &r.x.devs[i]
			if d.synced() {
				activeAt := time.UnixMilli(d.activeMS)
				if d.pres == codeOnline && pol.IdleTimeout > 0 {
					add(activeAt.Add(pol.IdleTimeout))
				}
				add(d.deadline(pol))
			} else {
				addSlotTimers(add, d.pres, time.UnixMilli(d.activeMS), pol)
			}
		}
		add(r.ActiveAt.Add(pol.ActiveWindow))
	}
	slices.Sort(cands)
	p0, a0 := r.visibleAt(stored, pol)
	for _, d := range cands {
		at := stored.Add(d)
		if p, a := r.visibleAt(at, pol); p != p0 || a != a0 {
			return at
		}
	}
	return time.Time{}
}

// addSlotTimers adds the deadlines of a state set without sync.
func addSlotTimers(add func(time.Time), code uint8, activeAt time.Time, pol Policy) {
	if code == codeOnline && pol.IdleTimeout > 0 {
		add(activeAt.Add(pol.IdleTimeout))
	}
	if code != codeOffline && pol.OfflineTimeout > 0 {
		add(activeAt.Add(pol.OfflineTimeout))
	}
}
