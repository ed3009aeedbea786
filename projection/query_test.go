package projection

import (
	"testing"
	"time"

	"github.com/presenced/presenced/events"
)

var defaults = Policy{IdleTimeout: 5 * time.Minute, OfflineTimeout: 30 * time.Minute, ActiveWindow: DefaultActiveWindow}

// TestStatusDecay reads one stored state at many instants: the state only
// decays with time (online → unavailable → offline), currently_active holds
// within the active window, and last_active_ago is never negative.
func TestStatusDecay(t *testing.T) {
	p := New(0)
	p.Apply(1, t0, ev("@on:x", events.Online, "msg"))
	p.Apply(2, t0, ev("@un:x", events.Unavailable))
	p.Apply(3, t0, ev("@off:x", events.Offline))
	cases := []struct {
		user   string
		at     time.Duration
		pol    Policy
		want   events.Presence
		active bool
		ago    time.Duration
	}{
		{"@on:x", -time.Hour, defaults, events.Online, true, 0},
		{"@on:x", 0, defaults, events.Online, true, 0},
		{"@on:x", 59999 * time.Millisecond, defaults, events.Online, true, 59999 * time.Millisecond},
		{"@on:x", time.Minute, defaults, events.Online, false, time.Minute},
		{"@on:x", 5*time.Minute - time.Millisecond, defaults, events.Online, false, 5*time.Minute - time.Millisecond},
		{"@on:x", 5 * time.Minute, defaults, events.Unavailable, false, 5 * time.Minute},
		{"@on:x", 30*time.Minute - time.Millisecond, defaults, events.Unavailable, false, 30*time.Minute - time.Millisecond},
		{"@on:x", 30 * time.Minute, defaults, events.Offline, false, 30 * time.Minute},
		{"@on:x", 1000 * time.Hour, defaults, events.Offline, false, 1000 * time.Hour},
		{"@un:x", 0, defaults, events.Unavailable, false, 0},
		{"@un:x", 29 * time.Minute, defaults, events.Unavailable, false, 29 * time.Minute},
		{"@un:x", 30 * time.Minute, defaults, events.Offline, false, 30 * time.Minute},
		{"@off:x", 0, defaults, events.Offline, false, 0},
		// Zero timeouts disable decay.
		{"@on:x", 1000 * time.Hour, Policy{}, events.Online, false, 1000 * time.Hour},
		{"@on:x", 1000 * time.Hour, Policy{OfflineTimeout: 2000 * time.Hour}, events.Online, false, 1000 * time.Hour},
		{"@on:x", time.Hour, Policy{IdleTimeout: 2 * time.Hour, OfflineTimeout: time.Hour}, events.Offline, false, time.Hour},
		// A zero active window means the default 60 s; another is honoured.
		{"@on:x", 59 * time.Second, Policy{}, events.Online, true, 59 * time.Second},
		{"@on:x", 10 * time.Second, Policy{ActiveWindow: 10 * time.Second}, events.Online, false, 10 * time.Second},
		// An idle timeout shorter than the active window: unavailable is never active.
		{"@on:x", 20 * time.Second, Policy{IdleTimeout: 10 * time.Second}, events.Unavailable, false, 20 * time.Second},
	}
	for _, c := range cases {
		st, ok := p.Status(c.user, t0.Add(c.at), c.pol)
		if !ok {
			t.Fatalf("%s not found", c.user)
		}
		if st.Presence != c.want || st.CurrentlyActive != c.active || st.LastActiveAgo != c.ago {
			t.Errorf("%s at %s with %+v: %s active=%v ago=%s; want %s active=%v ago=%s",
				c.user, c.at, c.pol, st.Presence, st.CurrentlyActive, st.LastActiveAgo, c.want, c.active, c.ago)
		}
	}
	if st, _ := p.Status("@on:x", t0.Add(time.Hour), defaults); st.StatusMsg != "msg" || st.Seq != 1 {
		t.Fatalf("decay changed the message or sequence: %+v", st)
	}
	if _, ok := p.Status("@nobody:x", t0, defaults); ok {
		t.Fatal("status of an unknown user")
	}
}

// TestActiveAtIsMillisecondStoreTime: activity is the store time at
// millisecond precision, so every node computes the same last_active_ago.
func TestActiveAtIsMillisecondStoreTime(t *testing.T) {
	p := New(0)
	stored := t0.Add(1234567 * time.Nanosecond)
	p.Apply(1, stored, ev("@a:x", events.Online))
	r, _ := p.Lookup("@a:x")
	if !r.ActiveAt.Equal(t0.Add(time.Millisecond)) {
		t.Fatalf("ActiveAt %s", r.ActiveAt)
	}
	if st := r.StatusAt(t0.Add(time.Second), defaults); st.LastActiveAgo != 999*time.Millisecond {
		t.Fatalf("ago %s", st.LastActiveAgo)
	}
}

// TestEmptyStatusMsgIsNone: an empty status message is stored as none.
func TestEmptyStatusMsgIsNone(t *testing.T) {
	p := New(0)
	p.Apply(1, t0, ev("@a:x", events.Online, ""))
	if r, _ := p.Lookup("@a:x"); r.StatusMsg != "" {
		t.Fatalf("%+v", r)
	}
	p2 := New(0)
	p2.Apply(1, t0, ev("@a:x", events.Online))
	if p.Digest() != p2.Digest() {
		t.Fatal("empty and absent status messages differ")
	}
}
