package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/cmd/presence-dendrite/bridge"
	"github.com/presenced/presenced/events"
)

// storedPosition reads the position the bridge stored in its KV bucket.
func storedPosition(t *testing.T, nc *nats.Conn, bucket string) string {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return ""
	}
	e, err := kv.Get(ctx, "position")
	if err != nil {
		return ""
	}
	return string(e.Value())
}

// waitState waits until the stand-in Dendrite has consumed user in state p
// with status message msg.
func waitState(t *testing.T, d *standInDendrite, user string, p events.Presence, msg string) nats.Header {
	t.Helper()
	var h nats.Header
	eventually(t, 15*time.Second, func() error {
		h = d.headers(user)
		if h.Get("presence") != string(p) || h.Get("status_msg") != msg {
			return fmt.Errorf("%s consumed as %v, want %s %q", user, h, p, msg)
		}
		return nil
	})
	return h
}

// publications counts the bridge publications on the subject, by the
// status message they carry, and the replicas that sent them.
type publications struct {
	mu       sync.Mutex
	byStatus map[string]int
	replicas map[string]int
}

func watchPublications(t *testing.T, nc *nats.Conn, subject string) *publications {
	p := &publications{byStatus: map[string]int{}, replicas: map[string]int{}}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		r := m.Header.Get(bridge.HeaderBridge)
		if r == "" {
			return
		}
		p.mu.Lock()
		p.byStatus[m.Header.Get("status_msg")]++
		p.replicas[r]++
		p.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	_ = nc.Flush()
	return p
}

func (p *publications) snapshot() (map[string]int, map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, b := map[string]int{}, map[string]int{}
	for k, v := range p.byStatus {
		a[k] = v
	}
	for k, v := range p.replicas {
		b[k] = v
	}
	return a, b
}

func TestBridgePublishesWhatDendriteConsumes(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.URL)
	d := startStandInDendrite(t, nc, "Dendrite")
	feed := startStandInFeed(t)
	r := runBridge(t, ns.URL, feed, testConfig("r1"))
	waitStarted(t, nc, feed)

	feed.set(change("@alice:example.org", events.Online, "at lunch", 1500))
	h := waitState(t, d, "@alice:example.org", events.Online, "at lunch")
	ts, _ := strconv.ParseInt(h.Get("last_active_ts"), 10, 64)
	if age := time.Now().UnixMilli() - ts; age < 1500 || age > 10_000 {
		t.Fatalf("last_active_ts is %d ms ago, want about 1500", age)
	}
	if h.Get(bridge.HeaderBridge) != "r1" {
		t.Fatalf("marker header %q", h.Get(bridge.HeaderBridge))
	}
	// A change without status message clears Dendrite's copy with "".
	feed.set(change("@alice:example.org", events.Unavailable, "", 0))
	h = waitState(t, d, "@alice:example.org", events.Unavailable, "")
	if _, ok := h["status_msg"]; !ok {
		t.Fatalf("status_msg header missing: %v", h)
	}
	want := feed.position()
	eventually(t, 10*time.Second, func() error {
		if got := storedPosition(t, nc, "presence-dendrite"); got != want {
			return fmt.Errorf("stored position %q, want %q", got, want)
		}
		return nil
	})

	resp, err := http.Get(r.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body["role"] != "leader" {
		t.Fatalf("/readyz %d %v", resp.StatusCode, body)
	}
	if r.metric("presence_dendrite_consumed_total") != 2 || r.metric("presence_dendrite_leader") != 1 {
		t.Fatalf("consumed %v leader %v", r.metric("presence_dendrite_consumed_total"), r.metric("presence_dendrite_leader"))
	}
}

// The position moves only once Dendrite has acknowledged: while Dendrite does
// not consume, the page is published again after the delivery timeout, and
// a restarted bridge resumes from the position before it.
func TestBridgeStoresPositionOnlyAfterDendriteConsumed(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.URL)
	d := startStandInDendrite(t, nc, "Dendrite")
	feed := startStandInFeed(t)
	cfg := testConfig("r1")
	cfg.DeliveryTimeout = 300 * time.Millisecond
	r := runBridge(t, ns.URL, feed, cfg)
	waitStarted(t, nc, feed)
	start := feed.position()
	eventually(t, 10*time.Second, func() error {
		if got := storedPosition(t, nc, "presence-dendrite"); got != start {
			return fmt.Errorf("stored position %q, want %q", got, start)
		}
		return nil
	})

	d.pause(t)
	feed.set(change("@alice:example.org", events.Online, "one", 0))
	eventually(t, 10*time.Second, func() error {
		if n := r.metric("presence_dendrite_unconfirmed_batches_total"); n < 2 {
			return fmt.Errorf("%v unconfirmed pages", n)
		}
		return nil
	})
	if got := storedPosition(t, nc, "presence-dendrite"); got != start {
		t.Fatalf("position moved to %q while Dendrite consumed nothing", got)
	}

	// A bridge killed now resumes from the stored position.
	r.stop()
	d.resume()
	r2 := runBridge(t, ns.URL, feed, testConfig("r2"))
	waitState(t, d, "@alice:example.org", events.Online, "one")
	want := feed.position()
	eventually(t, 10*time.Second, func() error {
		if got := storedPosition(t, nc, "presence-dendrite"); got != want {
			return fmt.Errorf("stored position %q, want %q", got, want)
		}
		return nil
	})
	resumed := false
	for _, s := range feed.requestedSince() {
		resumed = resumed || s == start
	}
	if !resumed || r2.metric("presence_dendrite_consumed_total") < 1 {
		t.Fatalf("the second replica did not resume from %q: asked %v", start, feed.requestedSince())
	}
}

func TestBridgeReplicasDoNotPublishTwice(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.URL)
	d := startStandInDendrite(t, nc, "Dendrite")
	feed := startStandInFeed(t)
	pubs := watchPublications(t, nc, "DendriteOutputPresenceEvent")
	replicas := map[string]*runningBridge{}
	for _, name := range []string{"a", "b", "c"} {
		replicas[name] = runBridge(t, ns.URL, feed, testConfig(name))
	}
	waitStarted(t, nc, feed)
	const n = 40
	for i := range n {
		feed.set(change(fmt.Sprintf("@u%d:example.org", i), events.Online, fmt.Sprintf("s%d", i), 0))
	}
	for i := range n {
		waitState(t, d, fmt.Sprintf("@u%d:example.org", i), events.Online, fmt.Sprintf("s%d", i))
	}
	byStatus, byReplica := pubs.snapshot()
	if len(byReplica) != 1 {
		t.Fatalf("publications by replica %v, want one replica", byReplica)
	}
	for i := range n {
		if c := byStatus[fmt.Sprintf("s%d", i)]; c != 1 {
			t.Fatalf("change %d published %d times", i, c)
		}
	}
	var leader string
	for name := range byReplica {
		leader = name
	}
	leaders := 0
	for _, r := range replicas {
		leaders += int(r.metric("presence_dendrite_leader"))
	}
	if leaders != 1 {
		t.Fatalf("%d replicas report leading", leaders)
	}

	// The leader stops; one of the others takes over and misses nothing.
	replicas[leader].stop()
	feed.set(change("@u0:example.org", events.Offline, "after", 0))
	waitState(t, d, "@u0:example.org", events.Offline, "after")
	_, byReplica = pubs.snapshot()
	if len(byReplica) != 2 || byReplica[leader] != n {
		t.Fatalf("after the leader stopped, publications by replica %v", byReplica)
	}
}

// A replica that cannot renew its lease stops publishing before another can
// take it; the lease held in NATS outlives a replica that just vanished.
func TestBridgeLeaseOutlivesAVanishedHolder(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.URL)
	d := startStandInDendrite(t, nc, "Dendrite")
	feed := startStandInFeed(t)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	cfg := testConfig("standby")
	// A holder that vanished without releasing: its key is there until the
	// bucket's TTL removes it.
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: cfg.Bucket + "-lease", History: 1, TTL: cfg.LeaseTTL, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	if _, err := kv.Create(ctx, "publisher", []byte("vanished")); err != nil {
		t.Fatal(err)
	}
	r := runBridge(t, ns.URL, feed, cfg)
	eventually(t, 10*time.Second, func() error {
		if r.metric("presence_dendrite_leader") != 1 {
			return fmt.Errorf("not leading yet")
		}
		return nil
	})
	if waited := time.Since(taken); waited < cfg.LeaseTTL*9/10 {
		t.Fatalf("took the lease %s after the vanished holder, before its TTL %s", waited, cfg.LeaseTTL)
	}
	waitStarted(t, nc, feed)
	feed.set(change("@alice:example.org", events.Online, "hi", 0))
	waitState(t, d, "@alice:example.org", events.Online, "hi")
}

// Messages that Dendrite publishes (inbound federation presence) go to the
// federation ingest; the bridge's own and Dendrite's sync-driven ones do not.
func TestBridgeForwardsInboundFederationOnly(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.URL)
	d := startStandInDendrite(t, nc, "Dendrite")
	feed := startStandInFeed(t)
	runBridge(t, ns.URL, feed, testConfig("r1"))
	waitStarted(t, nc, feed)
	feed.set(change("@alice:example.org", events.Online, "ours", 0))
	waitState(t, d, "@alice:example.org", events.Online, "ours")

	js, _ := jetstream.New(nc)
	publish := func(h map[string]string) {
		t.Helper()
		m := nats.NewMsg("DendriteOutputPresenceEvent")
		for k, v := range h {
			m.Header.Set(k, v)
		}
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	ts := strconv.FormatInt(time.Now().Add(-3*time.Second).UnixMilli(), 10)
	// As federationapi/producers/syncapi.go publishes a remote user's push.
	publish(map[string]string{"user_id": "@carol:remote.example", "presence": "unavailable", "last_active_ts": ts, "status_msg": "away"})
	publish(map[string]string{"user_id": "@dave:other.example", "presence": "online", "last_active_ts": ts})
	// Dendrite's own sync-driven update, and another bridge's publication.
	publish(map[string]string{"user_id": "@bob:example.org", "presence": "online", "last_active_ts": ts, "from_sync": "true"})
	publish(map[string]string{"user_id": "@erin:example.org", "presence": "online", "last_active_ts": ts, bridge.HeaderBridge: "elsewhere"})
	waitState(t, d, "@carol:remote.example", events.Unavailable, "away")

	var got []fedPush
	eventually(t, 10*time.Second, func() error {
		got = feed.federation()
		n := 0
		for _, p := range got {
			n += len(p.Push)
		}
		if n < 2 {
			return fmt.Errorf("forwarded %v", got)
		}
		return nil
	})
	byUser := map[string]fedPush{}
	for _, p := range got {
		for _, c := range p.Push {
			if _, dup := byUser[c.UserID]; dup {
				t.Fatalf("%s forwarded twice: %v", c.UserID, got)
			}
			byUser[c.UserID] = fedPush{Origin: p.Origin, Push: []bridge.Change{c}}
		}
	}
	if len(byUser) != 2 {
		t.Fatalf("forwarded %v, want carol and dave only", byUser)
	}
	carol := byUser["@carol:remote.example"]
	c := carol.Push[0]
	if carol.Origin != "remote.example" || c.Presence != events.Unavailable || c.StatusMsg == nil || *c.StatusMsg != "away" ||
		c.LastActiveAgo == nil || *c.LastActiveAgo < 3000 || *c.LastActiveAgo > 13000 {
		t.Fatalf("carol forwarded as %+v from %q", c, carol.Origin)
	}
	dave := byUser["@dave:other.example"]
	if dave.Origin != "other.example" || dave.Push[0].StatusMsg != nil {
		t.Fatalf("dave forwarded as %+v", dave)
	}
}

// After a NATS restart the in-memory presence stream is gone until Dendrite
// creates it again; the position survives in the file-backed bucket and the
// bridge resumes from it, so a change made meanwhile reaches Dendrite.
func TestBridgeResumesAfterNATSRestart(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.URL)
	d := startStandInDendrite(t, nc, "Dendrite")
	feed := startStandInFeed(t)
	r := runBridge(t, ns.URL, feed, testConfig("r1"))
	waitStarted(t, nc, feed)
	feed.set(change("@alice:example.org", events.Online, "before", 0))
	waitState(t, d, "@alice:example.org", events.Online, "before")
	before := feed.position()
	eventually(t, 10*time.Second, func() error {
		if got := storedPosition(t, nc, "presence-dendrite"); got != before {
			return fmt.Errorf("stored %q, want %q", got, before)
		}
		return nil
	})

	d.stop()
	ns.restart()
	feed.set(change("@alice:example.org", events.Unavailable, "during", 0))
	eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(r.srv.URL + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz %d while Dendrite's stream is missing", resp.StatusCode)
		}
		return nil
	})
	eventually(t, 10*time.Second, func() error {
		if !nc.IsConnected() {
			return fmt.Errorf("not reconnected")
		}
		return nil
	})
	d.start(t) // Dendrite, restarted, recreates its stream and consumer
	waitState(t, d, "@alice:example.org", events.Unavailable, "during")
	eventually(t, 10*time.Second, func() error {
		if got := storedPosition(t, nc, "presence-dendrite"); got != feed.position() {
			return fmt.Errorf("stored %q, want %q", got, feed.position())
		}
		return nil
	})
}

// A position the feed never produced (presenced's stream was recreated)
// gets the reset answer; the bridge continues from the feed's position.
func TestBridgeFollowsAFeedReset(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.URL)
	d := startStandInDendrite(t, nc, "Dendrite")
	feed := startStandInFeed(t)
	r := runBridge(t, ns.URL, feed, testConfig("r1"))
	waitStarted(t, nc, feed)
	feed.set(change("@alice:example.org", events.Online, "old", 0))
	waitState(t, d, "@alice:example.org", events.Online, "old")
	feed.recreate()
	eventually(t, 10*time.Second, func() error {
		if r.metric("presence_dendrite_feed_resets_total") != 1 {
			return fmt.Errorf("no reset seen")
		}
		return nil
	})
	feed.set(change("@alice:example.org", events.Offline, "new", 0))
	waitState(t, d, "@alice:example.org", events.Offline, "new")
}
