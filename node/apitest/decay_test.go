package apitest

import (
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// timedPut sets userID's presence and returns bounds on the time JetStream
// stored it (the event's activity time).
func timedPut(t *testing.T, n *nodetest.Node, token, userID string, body any) (before, after time.Time) {
	t.Helper()
	before = time.Now().Truncate(time.Millisecond)
	mustPut(t, n, token, userID, body)
	return before, time.Now()
}

// readAt moves the node's clock to at and reads userID's presence.
func readAt(t *testing.T, n *nodetest.Node, userID string, at time.Time) map[string]any {
	t.Helper()
	n.Clock.Set(at)
	return mustGet(t, n, bobToken, userID)
}

// wantState checks presence, currently_active (absent when want is nil) and
// a last_active_ago within [minAgo, maxAgo].
func wantState(t *testing.T, got map[string]any, presence string, active *bool, minAgo, maxAgo time.Duration) {
	t.Helper()
	if got["presence"] != presence {
		t.Fatalf("presence %v, want %s (%v)", got["presence"], presence, got)
	}
	ca, has := got["currently_active"]
	switch {
	case active == nil && has:
		t.Fatalf("currently_active %v present for %s (%v)", ca, presence, got)
	case active != nil && ca != *active:
		t.Fatalf("currently_active %v, want %v (%v)", ca, *active, got)
	}
	ago := time.Duration(lastActiveAgo(t, got)) * time.Millisecond
	if ago < minAgo || ago > maxAgo {
		t.Fatalf("last_active_ago %s, want between %s and %s", ago, minAgo, maxAgo)
	}
}

// yes and no are the currently_active values wantState expects.
var (
	yes = func() *bool { b := true; return &b }()
	no  = new(bool)
)

// TestDecayWithInjectedClock drives the node's clock through the default
// thresholds: currently_active for 60 s, online → unavailable at the idle
// timeout (5 min), anything → offline at the offline timeout (30 min).
// last_active_ago is measured from the store time, on the node's clock, and
// is never negative.
func TestDecayWithInjectedClock(t *testing.T) {
	clock := nodetest.NewClock(time.Now().Add(-time.Hour))
	n := nodetest.StartNode(t, nodetest.WithClock(clock))
	before, after := timedPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "here"})
	slack := after.Sub(before) + time.Millisecond

	// A clock behind the store time reads 0, not a negative age.
	wantState(t, readAt(t, n, alice, before.Add(-time.Minute)), "online", yes, 0, 0)
	wantState(t, readAt(t, n, alice, after.Add(1234*time.Millisecond)), "online", yes, 1234*time.Millisecond, 1234*time.Millisecond+slack)
	wantState(t, readAt(t, n, alice, before.Add(59*time.Second)), "online", yes, 59*time.Second-slack, 59*time.Second)
	wantState(t, readAt(t, n, alice, after.Add(60*time.Second)), "online", no, 60*time.Second, 60*time.Second+slack)
	wantState(t, readAt(t, n, alice, before.Add(5*time.Minute-time.Second)), "online", no, 0, 5*time.Minute)
	wantState(t, readAt(t, n, alice, after.Add(5*time.Minute)), "unavailable", nil, 5*time.Minute, 5*time.Minute+slack)
	wantState(t, readAt(t, n, alice, before.Add(30*time.Minute-time.Second)), "unavailable", nil, 0, 30*time.Minute)
	got := readAt(t, n, alice, after.Add(30*time.Minute))
	wantState(t, got, "offline", nil, 30*time.Minute, 30*time.Minute+slack)
	if got["status_msg"] != "here" {
		t.Fatalf("decay dropped the status message: %v", got)
	}

	// An unavailable user is never raised to online, and goes offline too.
	before, after = timedPut(t, n, carolToken, carol, map[string]any{"presence": "unavailable"})
	wantState(t, readAt(t, n, carol, after), "unavailable", nil, 0, time.Second)
	wantState(t, readAt(t, n, carol, before.Add(30*time.Minute-time.Second)), "unavailable", nil, 0, 30*time.Minute)
	wantState(t, readAt(t, n, carol, after.Add(30*time.Minute)), "offline", nil, 30*time.Minute, time.Hour)

	// An explicit offline stays offline and has no currently_active.
	_, after = timedPut(t, n, weirdToken, weird, map[string]any{"presence": "offline"})
	wantState(t, readAt(t, n, weird, after), "offline", nil, 0, time.Second)

	// A new PUT is new activity: alice is online and active again.
	clock.Set(time.Now())
	_, after = timedPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
	wantState(t, readAt(t, n, alice, after.Add(time.Second)), "online", yes, time.Second, 2*time.Second)
}

// TestDecayDisabled: a zero timeout disables that decay.
func TestDecayDisabled(t *testing.T) {
	clock := nodetest.NewClock(time.Now())
	n := nodetest.StartNode(t, nodetest.WithClock(clock), nodetest.WithConfig(func(c *node.Config) {
		c.IdleTimeout = 0
		c.OfflineTimeout = 0
	}))
	_, after := timedPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
	wantState(t, readAt(t, n, alice, after.Add(1000*time.Hour)), "online", no, 1000*time.Hour, 1001*time.Hour)

	m := nodetest.StartNode(t, nodetest.WithClock(clock), nodetest.WithConfig(func(c *node.Config) {
		c.IdleTimeout = 0
		c.OfflineTimeout = time.Hour
	}))
	_, after = timedPut(t, m, aliceToken, alice, map[string]any{"presence": "online"})
	wantState(t, readAt(t, m, alice, after.Add(59*time.Minute)), "online", no, 59*time.Minute, time.Hour)
	wantState(t, readAt(t, m, alice, after.Add(time.Hour)), "offline", nil, time.Hour, 2*time.Hour)
}

// TestDecayEndToEnd runs the decay on the real clock with short timeouts:
// online, then unavailable after 300 ms, then offline after 600 ms. Each read
// must be consistent with its own last_active_ago, and every phase must be
// seen in order.
func TestDecayEndToEnd(t *testing.T) {
	t.Parallel()
	const idle, offline = 300 * time.Millisecond, 600 * time.Millisecond
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.IdleTimeout = idle
		c.OfflineTimeout = offline
	}))
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "brb"})
	order := map[string]int{"online": 0, "unavailable": 1, "offline": 2}
	seen := map[string]bool{}
	last := 0
	deadline := time.Now().Add(20 * time.Second)
	for !seen["offline"] {
		if time.Now().After(deadline) {
			t.Fatalf("did not decay to offline; saw %v", seen)
		}
		got := mustGet(t, n, bobToken, alice)
		p, _ := got["presence"].(string)
		ago := time.Duration(lastActiveAgo(t, got)) * time.Millisecond
		want := "online"
		switch {
		case ago >= offline:
			want = "offline"
		case ago >= idle:
			want = "unavailable"
		}
		if p != want {
			t.Fatalf("presence %s at last_active_ago %s, want %s", p, ago, want)
		}
		if order[p] < last {
			t.Fatalf("presence went back to %s", p)
		}
		if _, has := got["currently_active"]; has != (p == "online") {
			t.Fatalf("currently_active presence does not match %s: %v", p, got)
		}
		if got["status_msg"] != "brb" {
			t.Fatalf("status_msg lost: %v", got)
		}
		last = order[p]
		seen[p] = true
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range []string{"online", "unavailable"} {
		if !seen[p] {
			t.Errorf("never read %s on the way to offline", p)
		}
	}
	// Activity brings the user back.
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
	if got := mustGet(t, n, bobToken, alice); lastActiveAgo(t, got) < int64(idle/time.Millisecond) && got["presence"] != "online" {
		t.Fatalf("after a new PUT: %v", got)
	}
}
