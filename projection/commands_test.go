package projection

import (
	"math"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
)

// store is the stream in miniature: each event a writer function asks to
// publish is encoded, decoded and applied at the next sequence with the
// given store time, exactly as a follower would see it, and counted.
type store struct {
	t      testing.TB
	p      *Projection
	pol    Policy
	seq    uint64
	stored map[string]int // events stored per user
}

func newStore(t testing.TB, pol Policy) *store {
	return &store{t: t, p: New(0), pol: pol, stored: map[string]int{}}
}

func (s *store) record(user string) (Record, bool) { return s.p.Lookup(user) }

// write stores ev at time at when publish is true, and reports publish.
func (s *store) write(ev events.Event, publish bool, at time.Time) bool {
	s.t.Helper()
	if !publish {
		return false
	}
	data, err := events.Encode(ev)
	if err != nil {
		s.t.Fatalf("writer produced an event that does not encode: %+v: %v", ev, err)
	}
	s.seq++
	if err := s.p.ApplyMessage(s.seq, at, data); err != nil {
		s.t.Fatalf("apply %s: %v", data, err)
	}
	s.stored[ev.UserID]++
	return true
}

func (s *store) put(at time.Time, user, dev string, p events.Presence, msg ...string) {
	s.t.Helper()
	c := PutCommand{UserID: user, DeviceID: dev, Presence: p}
	if len(msg) > 0 {
		c.StatusMsg = &msg[0]
	}
	r, ok := s.record(user)
	ev, pub := Put(r, ok, c, at, s.pol)
	s.write(ev, pub, at)
}

func (s *store) sync(at time.Time, user, dev string, set events.Presence, holdMS int64) bool {
	s.t.Helper()
	r, ok := s.record(user)
	ev, pub := Sync(r, ok, SyncCommand{UserID: user, DeviceID: dev, SetPresence: set, HoldMS: holdMS}, at, s.pol)
	return s.write(ev, pub, at)
}

func (s *store) active(at time.Time, user, dev string) bool {
	s.t.Helper()
	r, ok := s.record(user)
	ev, pub := Active(r, ok, ActiveCommand{UserID: user, DeviceID: dev}, at, s.pol)
	return s.write(ev, pub, at)
}

func (s *store) federation(at time.Time, it FederationItem) bool {
	s.t.Helper()
	r, ok := s.record(it.UserID)
	ev, pub := Federation(r, ok, it, at, s.pol)
	return s.write(ev, pub, at)
}

func (s *store) expire(at time.Time, user string) bool {
	s.t.Helper()
	r, ok := s.record(user)
	if !ok {
		s.t.Fatalf("expire of unknown %s", user)
	}
	ev, pub := Expire(r, at, s.pol)
	return s.write(ev, pub, at)
}

func (s *store) status(at time.Time, user string) Status {
	s.t.Helper()
	st, ok := s.p.Status(user, at, s.pol)
	if !ok {
		s.t.Fatalf("no state for %s", user)
	}
	return st
}

func (s *store) next(user string) time.Time {
	r, _ := s.record(user)
	return NextTransition(r, s.pol)
}

var fleet = Policy{IdleTimeout: 5 * time.Minute, OfflineTimeout: 30 * time.Minute, SyncTimeout: 30 * time.Second}

func wantPresence(t *testing.T, s *store, at time.Time, user string, want events.Presence, why string) {
	t.Helper()
	if got := s.status(at, user); got.Presence != want {
		t.Fatalf("%s: %s at +%s reads %s, want %s", why, user, at.Sub(t0), got.Presence, want)
	}
}

func TestTwoDevicesStrongestWins(t *testing.T) {
	s := newStore(t, fleet)
	s.put(t0, "@a:x", "PHONE", events.Online)
	s.put(t0.Add(time.Second), "@a:x", "LAPTOP", events.Unavailable, "away")
	wantPresence(t, s, t0.Add(2*time.Second), "@a:x", events.Online, "one device online, one unavailable")
	if st := s.status(t0.Add(2*time.Second), "@a:x"); st.StatusMsg != "away" || !st.CurrentlyActive || st.LastActiveAgo != time.Second {
		t.Fatalf("status %+v", st)
	}
	r, _ := s.record("@a:x")
	if devs := r.Devices(); len(devs) != 2 || devs[0].ID != "PHONE" || devs[1].ID != "LAPTOP" || !devs[1].Pinned || devs[0].Pinned {
		t.Fatalf("devices %+v", devs)
	}
	s.put(t0.Add(3*time.Second), "@a:x", "PHONE", events.Offline)
	wantPresence(t, s, t0.Add(4*time.Second), "@a:x", events.Unavailable, "the online device went offline")
	// The phone's online state decays with its own activity, not the laptop's.
	s.put(t0.Add(4*time.Minute), "@a:x", "LAPTOP", events.Online)
	s.put(t0.Add(4*time.Minute+time.Second), "@a:x", "PHONE", events.Unavailable)
	wantPresence(t, s, t0.Add(9*time.Minute), "@a:x", events.Unavailable, "the laptop idle after 5 minutes")
}

// TestPutOfflineWhileAnotherDeviceSyncs is Synapse's SY19.
func TestPutOfflineWhileAnotherDeviceSyncs(t *testing.T) {
	s := newStore(t, fleet)
	s.sync(t0, "@a:x", "PHONE", "", 30000)
	s.put(t0.Add(time.Second), "@a:x", "LAPTOP", events.Offline)
	wantPresence(t, s, t0.Add(2*time.Second), "@a:x", events.Online, "PUT offline on one device while another syncs")
	s.put(t0.Add(2*time.Second), "@a:x", "PHONE", events.Offline)
	wantPresence(t, s, t0.Add(3*time.Second), "@a:x", events.Offline, "PUT offline on the syncing device")
	// The phone keeps its sync liveness: its next sync raises it again.
	r, _ := s.record("@a:x")
	if d := r.Devices()[0]; d.ID != "PHONE" || !d.Synced {
		t.Fatalf("phone lost its sync state: %+v", d)
	}
	s.sync(t0.Add(4*time.Second), "@a:x", "PHONE", events.Online, 30000)
	wantPresence(t, s, t0.Add(5*time.Second), "@a:x", events.Online, "a sync after the PUT offline")
}

// TestSyncSetPresenceOffline is Synapse's SY21: such a sync does not touch
// presence at all.
func TestSyncSetPresenceOffline(t *testing.T) {
	s := newStore(t, fleet)
	if s.sync(t0, "@a:x", "PHONE", events.Offline, 0) {
		t.Fatal("a sync with set_presence=offline stored an event for a user with none")
	}
	s.put(t0, "@a:x", "PHONE", events.Online, "hi")
	before, _ := s.record("@a:x")
	if s.sync(t0.Add(time.Second), "@a:x", "PHONE", events.Offline, 0) {
		t.Fatal("a sync with set_presence=offline stored an event")
	}
	if after, _ := s.record("@a:x"); after != before {
		t.Fatal("state changed")
	}
	// It does not make the device a syncing one either: it decays as a PUT.
	wantPresence(t, s, t0.Add(time.Hour), "@a:x", events.Offline, "offline timeout of the PUT")
	wantPresence(t, s, t0.Add(29*time.Minute), "@a:x", events.Unavailable, "idle timeout of the PUT")
}

// TestSyncDoesNotRaisePinnedUnavailable is SY23: a sync does not override
// an unavailable state set by PUT on the same device until it is active,
// nor does it change the status message.
func TestSyncDoesNotRaisePinnedUnavailable(t *testing.T) {
	s := newStore(t, fleet)
	s.sync(t0, "@a:x", "PHONE", events.Online, 0)
	s.put(t0.Add(time.Second), "@a:x", "PHONE", events.Unavailable, "brb")
	for i := 2; i < 20; i++ {
		s.sync(t0.Add(time.Duration(i)*time.Second), "@a:x", "PHONE", events.Online, 0)
		wantPresence(t, s, t0.Add(time.Duration(i)*time.Second), "@a:x", events.Unavailable, "syncs after a PUT unavailable")
	}
	if st := s.status(t0.Add(20*time.Second), "@a:x"); st.StatusMsg != "brb" {
		t.Fatalf("a sync changed the status message: %+v", st)
	}
	s.active(t0.Add(21*time.Second), "@a:x", "PHONE")
	wantPresence(t, s, t0.Add(21*time.Second), "@a:x", events.Online, "activity after a PUT unavailable")
	s.sync(t0.Add(22*time.Second), "@a:x", "PHONE", events.Unavailable, 0)
	wantPresence(t, s, t0.Add(22*time.Second), "@a:x", events.Unavailable, "a sync with set_presence=unavailable")
	s.sync(t0.Add(33*time.Second), "@a:x", "PHONE", events.Online, 0)
	wantPresence(t, s, t0.Add(33*time.Second), "@a:x", events.Online, "a sync raises an unavailable it set itself")
	if st := s.status(t0.Add(33*time.Second), "@a:x"); st.StatusMsg != "brb" {
		t.Fatalf("status message lost: %+v", st)
	}
}

// TestActiveDoesNotRaiseOffline: activity raises unavailable, never
// offline, and gives a device with no state none.
func TestActiveDoesNotRaiseOffline(t *testing.T) {
	s := newStore(t, fleet)
	s.put(t0, "@a:x", "PHONE", events.Offline)
	s.active(t0.Add(time.Minute), "@a:x", "PHONE")
	s.active(t0.Add(2*time.Minute), "@a:x", "OTHER")
	st := s.status(t0.Add(2*time.Minute), "@a:x")
	if st.Presence != events.Offline || st.LastActiveAgo != 0 {
		t.Fatalf("after activity on an offline user: %+v", st)
	}
	if r, _ := s.record("@a:x"); len(r.Devices()) > 1 {
		t.Fatalf("activity created a device: %+v", r.Devices())
	}
}

// TestDeviceDroppedAfterSyncTimeout: a device that stops syncing is dropped
// its sync timeout (plus hold) after its last sync, and the user goes
// offline as exactly one stored transition.
func TestDeviceDroppedAfterSyncTimeout(t *testing.T) {
	s := newStore(t, fleet)
	s.sync(t0, "@a:x", "PHONE", events.Online, 10_000)
	deadline := t0.Add(40 * time.Second)
	wantPresence(t, s, deadline.Add(-time.Millisecond), "@a:x", events.Online, "before the deadline")
	wantPresence(t, s, deadline, "@a:x", events.Offline, "at the deadline")
	if next := s.next("@a:x"); !next.Equal(deadline) {
		t.Fatalf("next transition %s, want +40s", next.Sub(t0))
	}
	if s.expire(deadline.Add(-time.Millisecond), "@a:x") {
		t.Fatal("expired before the deadline")
	}
	at := deadline.Add(1500 * time.Millisecond) // a timer fires a little late
	if !s.expire(at, "@a:x") {
		t.Fatal("not expired at the deadline")
	}
	r, _ := s.record("@a:x")
	if r.Presence != events.Offline || len(r.Devices()) != 0 || r.Kind() != events.KindExpire {
		t.Fatalf("expired record %+v devices %+v", r, r.Devices())
	}
	if st := s.status(at, "@a:x"); st.Presence != events.Offline || st.LastActiveAgo != 41500*time.Millisecond {
		t.Fatalf("after expiry %+v", st)
	}
	if s.expire(at.Add(time.Hour), "@a:x") || !s.next("@a:x").IsZero() {
		t.Fatal("a second expiry for the same transition")
	}
	if s.stored["@a:x"] != 2 {
		t.Fatalf("%d events stored, want the sync and one expiry", s.stored["@a:x"])
	}
}

// TestFederationTimeout: a remote user reads as received until the
// federation timeout after its store time, then offline, stored once.
func TestFederationTimeout(t *testing.T) {
	s := newStore(t, fleet)
	ago, yes, msg := int64(5000), true, "remote hi"
	s.federation(t0, FederationItem{UserID: "@r:remote", Presence: events.Online, LastActiveAgo: &ago, CurrentlyActive: &yes, StatusMsg: &msg})
	st := s.status(t0.Add(20*time.Minute), "@r:remote")
	if st.Presence != events.Online || !st.CurrentlyActive || st.LastActiveAgo != 20*time.Minute+5*time.Second || st.StatusMsg != msg {
		t.Fatalf("remote state taken as given: %+v", st)
	}
	ft := t0.Add(DefaultFederationTimeout)
	if next := s.next("@r:remote"); !next.Equal(ft) {
		t.Fatalf("next %s", next.Sub(t0))
	}
	wantPresence(t, s, ft, "@r:remote", events.Offline, "federation timeout")
	if !s.expire(ft, "@r:remote") || s.expire(ft.Add(time.Hour), "@r:remote") {
		t.Fatal("federation timeout not stored exactly once")
	}
	if st := s.status(ft.Add(time.Minute), "@r:remote"); st.Presence != events.Offline || st.CurrentlyActive || st.LastActiveAgo != 31*time.Minute+5*time.Second {
		t.Fatalf("after the timeout %+v", st)
	}
	// Without last_active_ago the activity is the time of receipt; a
	// repeat within the granularity is absorbed, a later one refreshes.
	s.federation(t0.Add(time.Hour), FederationItem{UserID: "@r:remote", Presence: events.Unavailable})
	if st := s.status(t0.Add(time.Hour+time.Second), "@r:remote"); st.Presence != events.Unavailable || st.LastActiveAgo != time.Second || st.StatusMsg != "" {
		t.Fatalf("%+v", st)
	}
	if s.federation(t0.Add(time.Hour+time.Second), FederationItem{UserID: "@r:remote", Presence: events.Unavailable}) {
		t.Fatal("an identical update within the granularity was stored")
	}
	if !s.federation(t0.Add(time.Hour+time.Minute), FederationItem{UserID: "@r:remote", Presence: events.Unavailable}) {
		t.Fatal("a later identical update was absorbed; it must refresh the timeout")
	}
}

// TestTimerTransitionsOfAPut: a PUT online passes through three timer
// transitions (currently_active false, idle, offline), each stored once by
// Expire, and no more.
func TestTimerTransitionsOfAPut(t *testing.T) {
	s := newStore(t, fleet)
	s.put(t0, "@a:x", "", events.Online, "m")
	if r, _ := s.record("@a:x"); r.Extended() {
		t.Fatal("a device-less PUT is not a plain version-1 state")
	}
	want := []struct {
		at     time.Duration
		p      events.Presence
		active bool
	}{{time.Minute, events.Online, false}, {5 * time.Minute, events.Unavailable, false}, {30 * time.Minute, events.Offline, false}}
	for _, w := range want {
		next := s.next("@a:x")
		if !next.Equal(t0.Add(w.at)) {
			t.Fatalf("next transition at +%s, want +%s", next.Sub(t0), w.at)
		}
		if !s.expire(next, "@a:x") {
			t.Fatalf("no expiry at +%s", w.at)
		}
		st := s.status(next, "@a:x")
		if st.Presence != w.p || st.CurrentlyActive != w.active || st.StatusMsg != "m" || st.LastActiveAgo != w.at {
			t.Fatalf("at +%s: %+v", w.at, st)
		}
	}
	if !s.next("@a:x").IsZero() || s.expire(t0.Add(1000*time.Hour), "@a:x") {
		t.Fatal("a transition after offline")
	}
	if s.stored["@a:x"] != 4 {
		t.Fatalf("%d events", s.stored["@a:x"])
	}
}

// TestHeartbeatsAbsorbed: a device syncing far more often than the
// granularity stores at most one event per granularity, never expires
// while it syncs, and goes offline once, a sync timeout after it stops.
func TestHeartbeatsAbsorbed(t *testing.T) {
	for _, every := range []time.Duration{60 * time.Millisecond, time.Second, 10 * time.Second} {
		s := newStore(t, fleet)
		g := fleet.Granularity()
		const span = 60 * time.Second
		var at time.Time
		for i := 0; time.Duration(i)*every < span; i++ {
			at = t0.Add(time.Duration(i) * every)
			if next := s.next("@a:x"); !next.IsZero() && !at.Before(next) {
				if st := s.status(at, "@a:x"); st.Presence != events.Online {
					t.Fatalf("every %s: %s while heartbeating at +%s", every, st.Presence, at.Sub(t0))
				}
				s.expire(at, "@a:x")
			}
			s.sync(at, "@a:x", "PHONE", events.Online, 0)
			s.active(at, "@a:x", "PHONE")
			wantPresence(t, s, at, "@a:x", events.Online, "heartbeating")
		}
		max := int(math.Ceil(float64(span) / float64(g)))
		if n := s.stored["@a:x"]; n > max {
			t.Fatalf("every %s: %d events stored in %s, want at most %d", every, n, span, max)
		}
		// The heartbeats stop: one transition to offline, at the deadline.
		r, _ := s.record("@a:x")
		deadline := r.StoredAt().Add(fleet.SyncTimeout)
		if next := s.next("@a:x"); !next.Equal(deadline) {
			t.Fatalf("every %s: next %s, want the sync deadline %s", every, next.Sub(t0), deadline.Sub(t0))
		}
		before := s.stored["@a:x"]
		for tick := at; tick.Before(at.Add(time.Hour)); tick = tick.Add(time.Second) {
			s.expire(tick, "@a:x")
		}
		if s.stored["@a:x"] != before+1 || s.status(at.Add(time.Hour), "@a:x").Presence != events.Offline {
			t.Fatalf("every %s: %d expiries after the heartbeats stopped", every, s.stored["@a:x"]-before)
		}
	}
}

// TestManyUsersHeartbeating: 1000 users each syncing every second for a
// minute store at most ceil(60 s / granularity) events each.
func TestManyUsersHeartbeating(t *testing.T) {
	s := newStore(t, fleet)
	const users = 1000
	ids := userIDs(users)
	calls := 0
	for sec := 0; sec < 60; sec++ {
		for i, id := range ids {
			at := t0.Add(time.Duration(sec)*time.Second + time.Duration(i)*time.Millisecond)
			s.sync(at, id, "DEV", events.Online, 30000)
			calls++
		}
	}
	max := int(math.Ceil(60 / fleet.Granularity().Seconds()))
	total := 0
	for _, id := range ids {
		if n := s.stored[id]; n > max {
			t.Fatalf("%s: %d events", id, n)
		}
		total += s.stored[id]
	}
	t.Logf("%d syncs stored %d events (granularity %s)", calls, total, fleet.Granularity())
}
