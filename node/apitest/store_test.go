package apitest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
	"github.com/presenced/presenced/projection"
)

// TestHealthAndReadiness: /healthz is 200 while the process runs; /readyz is
// 200 once caught up and connected, and 503 with a reason when NATS is gone.
func TestHealthAndReadiness(t *testing.T) {
	srv := storeServer(t, t.TempDir(), 0)
	n := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()))
	r := api.Do(t, http.MethodGet, n.URL+"/healthz", "", nil)
	if r.Status != http.StatusOK || r.JSON["status"] != "ok" {
		t.Fatalf("healthz: %d %s", r.Status, r.Body)
	}
	r = api.Do(t, http.MethodGet, n.URL+"/readyz", "", nil)
	if r.Status != http.StatusOK || r.JSON["status"] != "ready" {
		t.Fatalf("readyz: %d %s", r.Status, r.Body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := api.Do(t, http.MethodHead, n.URL+p, "", nil); r.Status != http.StatusOK || len(r.Body) != 0 {
			t.Fatalf("HEAD %s: %d %q", p, r.Status, r.Body)
		}
	}
	if r := api.Do(t, http.MethodGet, n.URL+"/metrics", "", nil); r.Status != http.StatusOK ||
		!strings.Contains(string(r.Body), "presenced_ready 1") {
		t.Fatalf("metrics: %d", r.Status)
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	nodetest.Eventually(t, 10*time.Second, func() error {
		r := api.Do(t, http.MethodGet, n.URL+"/readyz", "", nil)
		if r.Status != http.StatusServiceUnavailable {
			return fmt.Errorf("readyz %d %s with NATS down", r.Status, r.Body)
		}
		if r.JSON["reason"] != "not connected to NATS" {
			t.Fatalf("readyz reason: %s", r.Body)
		}
		return nil
	})
	if r := api.Do(t, http.MethodGet, n.URL+"/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("healthz with NATS down: %d %s", r.Status, r.Body)
	}
}

// TestPutUnavailableWhenJetStreamDown: with the NATS server stopped, a PUT
// answers 503 with Retry-After within a bounded time, never 200; GETs keep
// answering from the projection; once the server is back, PUTs succeed.
func TestPutUnavailableWhenJetStreamDown(t *testing.T) {
	dir := t.TempDir()
	srv := storeServer(t, dir, 0)
	port := storePort(srv)
	n := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()), nodetest.WithConfig(func(c *node.Config) {
		c.Store.PublishTimeout = time.Second
	}))
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "before"})

	srv.Shutdown()
	srv.WaitForShutdown()
	for range 3 {
		start := time.Now()
		r := put(t, n, aliceToken, alice, map[string]any{"presence": "offline"})
		took := time.Since(start)
		wantError(t, r, http.StatusServiceUnavailable, "M_UNKNOWN")
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		if took > 10*time.Second {
			t.Fatalf("PUT took %s with a publish timeout of 1s", took)
		}
	}
	if got := mustGet(t, n, bobToken, alice); got["status_msg"] != "before" {
		t.Fatalf("GET while NATS is down: %v", got)
	}

	storeServer(t, dir, port)
	nodetest.Eventually(t, 30*time.Second, func() error {
		r := put(t, n, aliceToken, alice, map[string]any{"presence": "unavailable", "status_msg": "after"})
		if r.Status != http.StatusOK {
			return fmt.Errorf("PUT after restart: %d %s", r.Status, r.Body)
		}
		return nil
	})
	if got := mustGet(t, n, bobToken, alice); got["presence"] != "unavailable" || got["status_msg"] != "after" {
		t.Fatalf("GET after restart: %v", got)
	}
}

// TestPutUnavailableWhenStreamGone: an operator deleted the stream under a
// running node; a PUT has nowhere to be stored and answers 503, never 200.
func TestPutUnavailableWhenStreamGone(t *testing.T) {
	srv := storeServer(t, t.TempDir(), 0)
	n := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()), nodetest.WithConfig(func(c *node.Config) {
		c.Store.PublishTimeout = time.Second
	}))
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
	js := storeClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, n.Config.Store.Stream); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := put(t, n, aliceToken, alice, map[string]any{"presence": "offline"})
	wantError(t, r, http.StatusServiceUnavailable, "M_UNKNOWN")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("PUT took %s with a publish timeout of 1s", took)
	}
}

// TestRestartKeepsState: a node stopped and started again on the same data
// directory serves every user's state, status message and activity time as
// before.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	first := nodetest.StartNode(t, nodetest.WithDataDir(dir))
	before, _ := timedPut(t, first, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "persist me"})
	mustPut(t, first, bobToken, bob, map[string]any{"presence": "unavailable"})
	mustPut(t, first, weirdToken, weird, map[string]any{"presence": "offline", "status_msg": "gone"})
	mustPut(t, first, carolToken, carol, map[string]any{"presence": "online"})
	_, after := timedPut(t, first, carolToken, carol, map[string]any{"presence": "unavailable", "status_msg": "newest"})
	digest := first.Projection().Digest()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	clock := nodetest.NewClock(after.Add(10 * time.Second))
	second := nodetest.StartNode(t, nodetest.WithDataDir(dir), nodetest.WithClock(clock))
	if got := second.Projection().Digest(); got != digest {
		t.Fatalf("projection after restart %s, before %s", got, digest)
	}
	maxAgo := clock.Now().Sub(before)
	for _, c := range []struct {
		user, presence, msg string
	}{
		{alice, "online", "persist me"},
		{bob, "unavailable", ""},
		{weird, "offline", "gone"},
		{carol, "unavailable", "newest"},
	} {
		got := mustGet(t, second, aliceToken, c.user)
		msg, _ := got["status_msg"].(string)
		if got["presence"] != c.presence || msg != c.msg {
			t.Errorf("%s after restart: %v, want %s %q", c.user, got, c.presence, c.msg)
		}
		ago := time.Duration(lastActiveAgo(t, got)) * time.Millisecond
		if ago < 10*time.Second || ago > maxAgo {
			t.Errorf("%s: last_active_ago %s after restart, want between 10s and %s", c.user, ago, maxAgo)
		}
	}
	// The restarted node takes writes again.
	mustPut(t, second, aliceToken, alice, map[string]any{"presence": "offline"})
}

// TestReplayThousandsOfUsers: 5000 users' events published straight to the
// stream (as other components may) are all replayed by a node that starts
// afterwards; for users with several events the newest wins.
func TestReplayThousandsOfUsers(t *testing.T) {
	const users, updated = 5000, 100
	srv := storeServer(t, t.TempDir(), 0)
	first := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL())) // creates the stream
	js := storeClient(t, srv)
	user := func(i int) string { return fmt.Sprintf("@user%05d:example.org", i) }
	states := []events.Presence{events.Online, events.Unavailable, events.Offline}

	publish := func(i int, msg string) jetstream.PubAckFuture {
		s := msg
		data, err := events.Encode(events.Event{UserID: user(i), Presence: states[i%3], StatusMsg: &s, Origin: "loader"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := js.PublishAsync(events.Subject(events.DefaultSubjectPrefix, user(i)), data)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	// Publish in batches: the client bounds how many acknowledgements may
	// be outstanding.
	var futures []jetstream.PubAckFuture
	flush := func() {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			t.Fatal("publishes not acknowledged")
		}
		for _, f := range futures {
			select {
			case err := <-f.Err():
				t.Fatalf("publish: %v", err)
			case <-f.Ok():
			}
		}
		futures = futures[:0]
	}
	for i := range users {
		futures = append(futures, publish(i, "first"))
		if len(futures) == 1000 {
			flush()
		}
	}
	for i := range updated {
		futures = append(futures, publish(i, "second"))
	}
	flush()

	second := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()))
	if got := second.Projection().Len(); got != users {
		t.Fatalf("replayed %d users, want %d", got, users)
	}
	// The node that was running all along followed the same events live.
	nodetest.Eventually(t, 30*time.Second, func() error {
		if a, b := first.Projection().Digest(), second.Projection().Digest(); a != b {
			return fmt.Errorf("live projection %s, replayed %s", a, b)
		}
		return nil
	})
	for _, i := range []int{0, 1, updated - 1, updated, 2500, users - 1} {
		got := mustGet(t, second, aliceToken, user(i))
		want := "first"
		if i < updated {
			want = "second"
		}
		if got["status_msg"] != want {
			t.Errorf("%s: %v, want status_msg %q", user(i), got, want)
		}
	}
	second.Projection().Range(func(r projection.Record) bool {
		if r.StatusMsg != "first" && r.StatusMsg != "second" {
			t.Errorf("%s: unexpected record %+v", r.UserID, r)
			return false
		}
		return true
	})
}

// TestUnknownSchemaVersionSkipped: an event of a future schema version is
// skipped and counted, not applied and not fatal; events around it apply.
func TestUnknownSchemaVersionSkipped(t *testing.T) {
	srv := storeServer(t, t.TempDir(), 0)
	n := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()))
	js := storeClient(t, srv)
	mustPut(t, n, bobToken, bob, map[string]any{"presence": "online", "status_msg": "v1"})
	publishRaw(t, js, events.Subject(events.DefaultSubjectPrefix, alice),
		[]byte(`{"v":99,"user_id":"@alice:example.org","presence":"dancing","mood":{"level":3}}`))
	publishRaw(t, js, events.Subject(events.DefaultSubjectPrefix, bob),
		[]byte(`{"v":99,"user_id":"@bob:example.org","presence":"offline"}`))
	publishRaw(t, js, events.Subject(events.DefaultSubjectPrefix, carol), []byte(`not an event`))
	publishRaw(t, js, events.Subject(events.DefaultSubjectPrefix, weird),
		[]byte(`{"v":1,"user_id":"@we/ird.user:example.org","presence":"unavailable"}`))

	// A local user without state reads offline: the event after the
	// unknown ones is applied once weird reads unavailable.
	nodetest.Eventually(t, 10*time.Second, func() error {
		if r := get(t, n, aliceToken, weird); r.Status != http.StatusOK || r.JSON["presence"] != "unavailable" {
			return fmt.Errorf("event after the unknown ones not applied: %d %s", r.Status, r.Body)
		}
		return nil
	})
	wantNoState(t, get(t, n, bobToken, alice))
	wantNoState(t, get(t, n, bobToken, carol))
	if got := mustGet(t, n, aliceToken, bob); got["presence"] != "online" || got["status_msg"] != "v1" {
		t.Fatalf("bob after a v99 event: %v", got)
	}
	if v := metricValue(t, n.Registry, "presenced_projection_unknown_version_events_total"); v != 2 {
		t.Fatalf("unknown version counter %v, want 2", v)
	}
	if v := metricValue(t, n.Registry, "presenced_projection_malformed_events_total"); v != 1 {
		t.Fatalf("malformed counter %v, want 1", v)
	}
	if !n.Ready() {
		t.Fatal("node not ready after skipping events")
	}
	// A node replaying the same stream skips them the same way.
	m := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()))
	if u, mal := m.Projection().Counters(); u != 2 || mal != 1 {
		t.Fatalf("replaying node counted %d unknown-version and %d malformed events, want 2 and 1", u, mal)
	}
	// With one event kept per user, bob's v99 event replaced his v1 event in
	// the stream: a node that starts now has no state for him that it
	// understands, while the node that saw the v1 event keeps it. This is
	// why docs/events.md asks publishers to upgrade readers first.
	wantNoState(t, get(t, m, aliceToken, bob))
	mustGet(t, m, aliceToken, weird)
}

// TestEventsFromOtherComponents: an event published to the stream by another
// fleet component, following docs/events.md, is served like one of ours;
// a retried publish with the same Nats-Msg-Id is stored once.
func TestEventsFromOtherComponents(t *testing.T) {
	srv := storeServer(t, t.TempDir(), 0)
	n := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()))
	js := storeClient(t, srv)
	subject := "presence." + events.SubjectToken(carol)
	data := []byte(`{"v":1,"user_id":"@carol:example.org","presence":"online","status_msg":"from sync","origin":"synapse-worker-3","request_id":"sync-42"}`)
	ack := publishRaw(t, js, subject, data, jetstream.WithMsgID("sync-42"))
	dup := publishRaw(t, js, subject, data, jetstream.WithMsgID("sync-42"))
	if !dup.Duplicate || dup.Sequence != ack.Sequence {
		t.Fatalf("retried publish not deduplicated: first %+v, retry %+v", ack, dup)
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		r := get(t, n, aliceToken, carol)
		if r.Status != http.StatusOK || r.JSON["status_msg"] != "from sync" || r.JSON["currently_active"] != true {
			return fmt.Errorf("GET carol: %d %s", r.Status, r.Body)
		}
		return nil
	})
	// Our own PUT afterwards replaces it.
	mustPut(t, n, carolToken, carol, map[string]any{"presence": "unavailable"})
	if got := mustGet(t, n, aliceToken, carol); got["presence"] != "unavailable" || got["status_msg"] != nil {
		t.Fatalf("GET carol after PUT: %v", got)
	}
}

// TestEventOnAnotherUsersSubjectSkipped: an event must sit on its own user's
// subject. One for bob published on carol's subject changes neither bob nor
// carol and is counted as malformed, on a live node and on a replay.
func TestEventOnAnotherUsersSubjectSkipped(t *testing.T) {
	srv := storeServer(t, t.TempDir(), 0)
	n := nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()))
	js := storeClient(t, srv)
	mustPut(t, n, bobToken, bob, map[string]any{"presence": "online", "status_msg": "mine"})
	publishRaw(t, js, events.Subject(events.DefaultSubjectPrefix, carol),
		[]byte(`{"v":1,"user_id":"@bob:example.org","presence":"offline","status_msg":"forged"}`))
	publishRaw(t, js, events.Subject(events.DefaultSubjectPrefix, weird),
		[]byte(`{"v":1,"user_id":"@we/ird.user:example.org","presence":"unavailable"}`))
	nodetest.Eventually(t, 10*time.Second, func() error {
		if r := get(t, n, aliceToken, weird); r.Status != http.StatusOK || r.JSON["presence"] != "unavailable" {
			return fmt.Errorf("event after the misplaced one not applied: %d %s", r.Status, r.Body)
		}
		return nil
	})
	for _, node := range []*nodetest.Node{n, nodetest.StartNode(t, nodetest.WithNATS(srv.ClientURL()))} {
		if got := mustGet(t, node, aliceToken, bob); got["presence"] != "online" || got["status_msg"] != "mine" {
			t.Fatalf("bob after an event for him on carol's subject: %v", got)
		}
		wantNoState(t, get(t, node, aliceToken, carol))
		if v := metricValue(t, node.Registry, "presenced_projection_malformed_events_total"); v != 1 {
			t.Fatalf("malformed counter %v, want 1", v)
		}
	}
}
