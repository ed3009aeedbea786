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
