package projection

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
)

// visible is what a change-feed reader is shown of a status, apart from the
// ticking last_active_ago.
type visible struct {
	p      events.Presence
	active bool
	msg    string
}

func visibleOf(st Status) visible { return visible{st.Presence, st.CurrentlyActive, st.StatusMsg} }

// checkTransition asserts that NextTransition of r is exact: StatusAt is
// constant from the store time up to just before it (sampled at the
// candidate instants around it and at random), and differs at it.
func checkTransition(t testing.TB, rng *rand.Rand, r Record, pol Policy) {
	t.Helper()
	stored := r.StoredAt()
	next := NextTransition(r, pol)
	v0 := visibleOf(r.StatusAt(stored, pol))
	end := next
	if next.IsZero() {
		end = stored.Add(1000 * time.Hour)
	} else {
		if !next.After(stored) {
			t.Fatalf("next transition %s not after the store time %s", next, stored)
		}
		if v := visibleOf(r.StatusAt(next, pol)); v == v0 {
			t.Fatalf("no change at the next transition %s of %+v %+v", next.Sub(stored), r, r.Devices())
		}
		if v := visibleOf(r.StatusAt(next.Add(-time.Nanosecond), pol)); v != v0 {
			t.Fatalf("changed just before the next transition %s", next.Sub(stored))
		}
	}
	span := end.Sub(stored)
	for range 20 {
		at := stored.Add(time.Duration(rng.Int64N(int64(span))))
		if v := visibleOf(r.StatusAt(at, pol)); v != v0 {
			t.Fatalf("status changed at +%s before the next transition +%s (%+v → %+v) of %+v %+v",
				at.Sub(stored), next.Sub(stored), v0, v, r, r.Devices())
		}
	}
}

// TestRandomFleet drives a few users through random PUTs, syncs, activity,
// federation updates and timer expiries at random times, and checks after
// every stored event that NextTransition is exact, that an expiry changes
// nothing from its time on, and that an absorbed command would not have
// changed what a reader sees.
func TestRandomFleet(t *testing.T) {
	for seed := range uint64(40) {
		randomFleet(t, seed, 300)
	}
}

func FuzzRandomFleet(f *testing.F) {
	f.Add(uint64(1), uint16(50))
	f.Fuzz(func(t *testing.T, seed uint64, steps uint16) { randomFleet(t, seed, int(steps%400)) })
}

func randomFleet(t testing.TB, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	pol := Policy{IdleTimeout: 5 * time.Minute, OfflineTimeout: 30 * time.Minute, SyncTimeout: 30 * time.Second, FederationTimeout: 10 * time.Minute}
	if rng.IntN(3) == 0 {
		pol = Policy{IdleTimeout: time.Duration(1+rng.IntN(120)) * time.Second, OfflineTimeout: time.Duration(rng.IntN(600)) * time.Second,
			SyncTimeout: time.Duration(1+rng.IntN(60)) * time.Second, ActiveWindow: time.Duration(1+rng.IntN(90)) * time.Second}
	}
	s := newStore(t, pol)
	users := []string{"@a:x", "@b:x", "@r:remote"}
	devices := []string{"", "PHONE", "LAPTOP"}
	states := []events.Presence{events.Online, events.Unavailable, events.Offline, ""}
	now := t0
	for range steps {
		now = now.Add(time.Duration(rng.Int64N(int64(20 * time.Second))))
		if rng.IntN(20) == 0 {
			now = now.Add(time.Duration(rng.Int64N(int64(40 * time.Minute))))
		}
		now = now.Truncate(time.Millisecond) // store times are milliseconds
		u := users[rng.IntN(2)]
		dev := devices[rng.IntN(len(devices))]
		cur, ok := s.record(u)
		var ev events.Event
		var pub bool
		switch rng.IntN(6) {
		case 0:
			p := states[rng.IntN(3)]
			var msg *string
			if rng.IntN(2) == 0 {
				m := "msg"
				msg = &m
			}
			ev, pub = Put(cur, ok, PutCommand{UserID: u, DeviceID: dev, Presence: p, StatusMsg: msg}, now, pol)
		case 1, 2:
			ev, pub = Sync(cur, ok, SyncCommand{UserID: u, DeviceID: dev, SetPresence: states[rng.IntN(4)], HoldMS: int64(rng.IntN(3)) * 10000}, now, pol)
		case 3:
			ev, pub = Active(cur, ok, ActiveCommand{UserID: u, DeviceID: dev}, now, pol)
		case 4:
			u = users[2]
			cur, ok = s.record(u)
			it := FederationItem{UserID: u, Presence: states[rng.IntN(3)]}
			if rng.IntN(2) == 0 {
				ago := rng.Int64N(100000)
				it.LastActiveAgo = &ago
			}
			if rng.IntN(2) == 0 {
				yes := true
				it.CurrentlyActive = &yes
			}
			ev, pub = Federation(cur, ok, it, now, pol)
		default:
			if !ok {
				continue
			}
			ev, pub = Expire(cur, now, pol)
			if due := NextTransition(cur, pol); pub != (!due.IsZero() && !now.Before(due)) {
				t.Fatalf("seed %d: Expire publish=%v with next transition %s at %s", seed, pub, due, now)
			}
		}
		if !pub {
			if ok && ev.UserID != "" {
				next := RecordOf(0, now, ev)
				if a, b := visibleOf(cur.StatusAt(now, pol)), visibleOf(next.StatusAt(now, pol)); a != b {
					t.Fatalf("seed %d: an absorbed command would have changed %+v to %+v", seed, a, b)
				}
			}
			continue
		}
		s.write(ev, true, now)
		r, _ := s.record(u)
		checkTransition(t, rng, r, pol)
		if ev.Kind == events.KindExpire {
			for range 10 {
				at := now.Add(time.Duration(rng.Int64N(int64(2 * time.Hour))))
				if a, b := visibleOf(cur.StatusAt(at, pol)), visibleOf(r.StatusAt(at, pol)); a != b || cur.StatusAt(at, pol).LastActiveAgo != r.StatusAt(at, pol).LastActiveAgo {
					t.Fatalf("seed %d: expiry changed the reading at +%s: %+v → %+v", seed, at.Sub(now), a, b)
				}
			}
		}
	}
}
