package node_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
	"github.com/presenced/presenced/projection"
)

// fleetCluster starts k nodes serving the internal API on a three-server
// JetStream cluster (stream replicas 3), with the given sync timeout.
func fleetCluster(t *testing.T, k int, syncTimeout time.Duration) (*nodetest.Cluster, []*nodetest.Node, []*client.Client) {
	t.Helper()
	c := nodetest.StartCluster(t)
	nodes := nodetest.StartNodes(t, k, func(int) []nodetest.Option {
		return []nodetest.Option{nodetest.WithCluster(c), nodetest.WithFleet(t), nodetest.WithConfig(func(cfg *node.Config) {
			cfg.SyncTimeout = syncTimeout
		})}
	})
	clients := make([]*client.Client, k)
	for i, n := range nodes {
		clients[i] = client.New(n.InternalURL, client.WithToken(nodetest.FleetSecret))
	}
	return c, nodes, clients
}

// fleetUsers is how many users the cluster fleet tests drive
// (PRESENCED_FLEET_USERS raises it for a measurement run).
func fleetUsers(def int) int {
	if v, err := strconv.Atoi(os.Getenv("PRESENCED_FLEET_USERS")); err == nil && v > 0 {
		return v
	}
	return def
}

// envDuration reads a duration from the environment, or def.
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// fleetRounds is how many heartbeat rounds TestFleetHeartbeatsCluster runs
// (PRESENCED_FLEET_ROUNDS raises it).
func fleetRounds(def int) int {
	if v, err := strconv.Atoi(os.Getenv("PRESENCED_FLEET_ROUNDS")); err == nil && v > 0 {
		return v
	}
	return def
}

// inParallel runs fn for 0 … n-1 on a few goroutines.
func inParallel(n, workers int, fn func(i int)) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// transitionsStored sums presenced_timer_transitions_total over the nodes.
func transitionsStored(nodes []*nodetest.Node) float64 {
	var sum float64
	for _, n := range nodes {
		sum += counterValue(n, "presenced_timer_transitions_total")
	}
	return sum
}

func counterValue(n *nodetest.Node, name string) float64 {
	mfs, err := n.Registry.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var v float64
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
			return v
		}
	}
	return 0
}

// TestFleetExpiryExactlyOnceCluster: users whose devices synced through
// three nodes and then stopped go offline after the sync timeout, on every
// node, and each transition is stored once for the whole cluster: every
// node notices it, but the stream holds exactly one sync and one expiry per
// user.
func TestFleetExpiryExactlyOnceCluster(t *testing.T) {
	t.Parallel()
	users := fleetUsers(1000)
	c, nodes, clients := fleetCluster(t, 3, 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inParallel(users, 16, func(i int) {
		if err := clients[i%3].Sync(ctx, nodetest.UserID(i), "DEVICE", events.Online, 0); err != nil {
			t.Errorf("sync of user %d: %v", i, err)
		}
	})
	for j, n := range nodes {
		nodetest.Eventually(t, time.Minute, func() error {
			for i := range users {
				st, ok := n.Projection().Status(nodetest.UserID(i), time.Now(), projectionPolicy(n))
				if !ok || st.Presence != events.Offline {
					return fmt.Errorf("node %d: user %d reads %v", j, i, st.Presence)
				}
			}
			return nil
		})
	}
	// Each user's transition is stored once: the counters of the three
	// nodes add up to the number of users, and the stream holds two events
	// per user (the sync and the expiry), nothing more.
	nodetest.Eventually(t, 30*time.Second, func() error {
		if got := transitionsStored(nodes); got != float64(users) {
			return fmt.Errorf("%v transitions stored by the cluster, want %d", got, users)
		}
		return nil
	})
	_, js := c.Connect()
	s, err := js.Stream(ctx, nodes[0].Config.Store.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != uint64(2*users) {
		t.Fatalf("stream last sequence %d, want %d (one sync and one expiry per user)", info.State.LastSeq, 2*users)
	}
}

// projectionPolicy is the read policy of a test node.
func projectionPolicy(n *nodetest.Node) projection.Policy {
	return projection.Policy{IdleTimeout: n.Config.IdleTimeout, OfflineTimeout: n.Config.OfflineTimeout,
		ActiveWindow: projection.DefaultActiveWindow, SyncTimeout: n.Config.SyncTimeout, FederationTimeout: n.Config.FederationTimeout}
}

// TestFleetHeartbeatsCluster: users heartbeating through three nodes at
// the rate of syncing clients are absorbed: the stream stores at most one
// event per user per granularity (a third of the sync timeout) plus the
// first; no heartbeating user ever reads offline, even when a node dies and
// the heartbeats go to the others; users whose heartbeats stop go offline
// once.
func TestFleetHeartbeatsCluster(t *testing.T) {
	t.Parallel()
	users := fleetUsers(300)
	// PRESENCED_FLEET_SYNC_TIMEOUT, _INTERVAL and _ROUNDS make this a
	// measurement run at a real client's rate (docs/performance.md).
	syncTimeout := envDuration("PRESENCED_FLEET_SYNC_TIMEOUT", 3*time.Second)
	interval := envDuration("PRESENCED_FLEET_INTERVAL", 500*time.Millisecond)
	rounds := fleetRounds(12)
	granularity := syncTimeout / 3
	c, nodes, clients := fleetCluster(t, 3, syncTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Half the users stop after the first round ("leavers"); the others
	// heartbeat every interval for the whole test, spread over the nodes.
	stayer := func(i int) bool { return i%2 == 0 }
	var calls, failed atomic.Int64
	var alive [3]atomic.Bool
	for i := range alive {
		alive[i].Store(true)
	}
	beat := func(round int) {
		inParallel(users, 16, func(i int) {
			if round > 0 && !stayer(i) {
				return
			}
			for k := range 3 {
				j := (i + round + k) % 3
				if !alive[j].Load() {
					continue
				}
				calls.Add(1)
				if err := clients[j].Sync(ctx, nodetest.UserID(i), "DEVICE", events.Online, 0); err == nil {
					return
				}
				failed.Add(1)
			}
			t.Errorf("user %d: no node took the heartbeat of round %d", i, round)
		})
	}
	// Follow the change feed through node 2 (which stays up) from before
	// the first heartbeat: no stayer may ever be shown offline.
	feed := clients[2]
	start, err := feed.Changes(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	beforeSeq := streamLastSeq(t, c, nodes[0])
	began := time.Now()
	for round := range rounds {
		if round == rounds/2 {
			// A node dies; its share of heartbeats goes to the others.
			alive[1].Store(false)
			sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
			_ = nodes[1].Shutdown(sctx)
			scancel()
		}
		next := began.Add(time.Duration(round+1) * interval)
		beat(round)
		time.Sleep(time.Until(next))
	}
	elapsed := time.Since(began)
	stored := streamLastSeq(t, c, nodes[0]) - beforeSeq
	// Allowed: per stayer, its first event and one per granularity; per
	// leaver, its first event and its expiry.
	limit := uint64(users/2)*uint64(1+elapsed/granularity+1) + uint64(users-users/2)*2
	t.Logf("%d users, %d heartbeats in %v (%.0f/s, %d retried on another node): %d events stored (%.1f/s), at most %d allowed",
		users, calls.Load(), elapsed.Round(time.Millisecond), float64(calls.Load())/elapsed.Seconds(), failed.Load(),
		stored, float64(stored)/elapsed.Seconds(), limit)
	if stored > limit {
		t.Fatalf("%d events stored for %d heartbeats; at most %d allowed", stored, calls.Load(), limit)
	}
	// The feed never showed a stayer offline, and showed each leaver offline.
	offline := map[string]int{}
	pos := start.Next
	for {
		page, err := feed.Changes(ctx, pos, 10000, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Changes {
			if ch.Status.Presence == events.Offline {
				offline[ch.UserID]++
			}
		}
		if len(page.Changes) == 0 {
			break
		}
		pos = page.Next
	}
	for i := range users {
		id := nodetest.UserID(i)
		if stayer(i) && offline[id] > 0 {
			t.Errorf("user %d kept heartbeating but was shown offline", i)
		}
	}
	// Leavers go offline, each shown once from here on.
	nodetest.Eventually(t, 30*time.Second, func() error {
		page, err := feed.Changes(ctx, pos, 10000, time.Millisecond)
		if err != nil {
			return err
		}
		for _, ch := range page.Changes {
			if ch.Status.Presence == events.Offline {
				offline[ch.UserID]++
			}
		}
		if len(page.Changes) > 0 {
			pos = page.Next
		}
		for i := range users {
			if !stayer(i) && offline[nodetest.UserID(i)] == 0 {
				return fmt.Errorf("user %d stopped but was not shown offline", i)
			}
		}
		return nil
	})
	for i := range users {
		if n := offline[nodetest.UserID(i)]; !stayer(i) && n != 1 {
			t.Errorf("user %d shown offline %d times", i, n)
		}
	}
}

// streamLastSeq asks the cluster for the stream's last sequence.
func streamLastSeq(t *testing.T, c *nodetest.Cluster, n *nodetest.Node) uint64 {
	t.Helper()
	_, js := c.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, n.Config.Store.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// feedReader follows the change feed and remembers, per user, the last
// status message it was shown. It checks what a reader relies on: positions
// only move forward, and no user appears twice in one answer.
type feedReader struct {
	t    *testing.T
	mu   sync.Mutex
	pos  string
	last map[string]string
}

func newFeedReader(t *testing.T, pos string) *feedReader {
	return &feedReader{t: t, pos: pos, last: map[string]string{}}
}

func (r *feedReader) position() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// page applies one long-poll answer.
func (r *feedReader) page(p client.ChangesPage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.Reset {
		r.t.Errorf("unexpected reset at %s", r.pos)
		return
	}
	seen := map[string]bool{}
	for _, ch := range p.Changes {
		if seen[ch.UserID] {
			r.t.Errorf("user %s twice in one answer after %s", ch.UserID, r.pos)
		}
		seen[ch.UserID] = true
		r.last[ch.UserID] = ch.Status.StatusMsg
	}
	if len(p.Changes) > 0 && !positionAfter(p.Next, r.pos) {
		r.t.Errorf("position went from %s to %s", r.pos, p.Next)
	}
	r.pos = p.Next
}

// event applies one server-sent event.
func (r *feedReader) event(ev client.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Reset {
		r.t.Errorf("unexpected reset at %s", r.pos)
		return
	}
	if !positionAfter(ev.ID, r.pos) {
		r.t.Errorf("event %s after %s: a change seen twice", ev.ID, r.pos)
	}
	r.last[ev.Change.UserID] = ev.Change.Status.StatusMsg
	r.pos = ev.ID
}

// positionAfter compares positions of one stream by their sequence.
func positionAfter(a, b string) bool {
	seq := func(p string) uint64 {
		for i := len(p) - 1; i >= 0; i-- {
			if p[i] == '-' {
				n, _ := strconv.ParseUint(p[i+1:], 10, 64)
				return n
			}
		}
		return 0
	}
	return seq(a) > seq(b)
}

// TestFleetFeedResume: a long-poll reader and an event-stream reader
// follow the feed while users are written through the cluster; the
// long-poll reader's node is shut down and it resumes on a new node from
// its last position, and a NATS server is killed and restarted under the
// event-stream reader, which resumes with Last-Event-ID. Both end with
// every user's final state, having seen nothing twice.
func TestFleetFeedResume(t *testing.T) {
	t.Parallel()
	c, nodes, clients := fleetCluster(t, 3, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start, err := clients[1].Changes(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	poller, streamer := newFeedReader(t, start.Next), newFeedReader(t, start.Next)

	var pollClient atomic.Pointer[client.Client]
	pollClient.Store(clients[0])
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // the long-poll reader
		for {
			select {
			case <-stop:
				return
			default:
			}
			p, err := pollClient.Load().Changes(ctx, poller.position(), 50, 200*time.Millisecond)
			if err != nil {
				time.Sleep(50 * time.Millisecond) // its node is gone; the test moves it
				continue
			}
			poller.page(p)
		}
	})
	wg.Go(func() { // the event-stream reader, on node 2
		for {
			select {
			case <-stop:
				return
			default:
			}
			sctx, scancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-stop:
				case <-sctx.Done():
				}
				scancel()
			}()
			_, _ = clients[2].StreamChanges(sctx, streamer.position(), func(ev client.Event) bool {
				streamer.event(ev)
				return true
			})
			scancel()
			time.Sleep(50 * time.Millisecond)
		}
	})

	// Writes through every node; midway the poller's node goes away and a
	// NATS server dies and comes back.
	const users, rounds = 32, 12
	final := map[string]string{}
	for k := range rounds {
		switch k {
		case rounds / 3:
			sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
			_ = nodes[0].Shutdown(sctx)
			scancel()
			repl := nodetest.StartNodes(t, 1, func(int) []nodetest.Option {
				return []nodetest.Option{nodetest.WithCluster(c), nodetest.WithFleet(t), nodetest.WithNodeName("node-3")}
			})[0]
			pollClient.Store(client.New(repl.InternalURL, client.WithToken(nodetest.FleetSecret)))
			nodes[0] = repl
		case 2 * rounds / 3:
			i := c.StreamLeader(nodes[1].Config.Store.Stream)
			c.Kill(i)
			c.Restart(i)
		}
		for u := range users {
			msg := fmt.Sprintf("u%d-%d", u, k)
			for attempt := 0; ; attempt++ {
				n := nodes[(u+k+attempt)%3]
				cl := client.New(n.URL, client.WithToken(nodetest.UserToken(u)))
				err := cl.SetPresence(ctx, nodetest.UserID(u), events.Online, &msg)
				if err == nil {
					final[nodetest.UserID(u)] = msg
					break
				}
				if attempt > 20 {
					t.Fatalf("PUT %s: %v", msg, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	// Both readers catch up with every user's last write.
	for name, r := range map[string]*feedReader{"long poll": poller, "event stream": streamer} {
		nodetest.Eventually(t, 30*time.Second, func() error {
			r.mu.Lock()
			defer r.mu.Unlock()
			for u, want := range final {
				if r.last[u] != want {
					return fmt.Errorf("%s reader shows %s as %q, want %q", name, u, r.last[u], want)
				}
			}
			return nil
		})
	}
	close(stop)
	wg.Wait()
}
