package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// TestClusterRandomFaults applies a random schedule of PUTs and faults
// (NATS servers killed and restarted, nodes cut off from NATS and healed,
// nodes restarted) and then checks that no acknowledged PUT was lost and
// that all nodes end with the same projection. The seed is logged; set
// PRESENCED_SEED to replay a schedule.
func TestClusterRandomFaults(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PRESENCED_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("PRESENCED_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with PRESENCED_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	c := nodetest.StartCluster(t)
	const numNodes = 3
	// Every node reaches every server through its own proxy, so that a node
	// can be cut off from the whole cluster.
	proxies := make([][]*nodetest.Proxy, numNodes)
	urls := make([][]string, numNodes)
	for i := range numNodes {
		for s := range nodetest.ClusterSize {
			p := nodetest.StartProxy(t, c.URL(s)[len("nats://"):])
			proxies[i] = append(proxies[i], p)
			urls[i] = append(urls[i], p.URL())
		}
	}
	opts := func(i int) []nodetest.Option {
		return []nodetest.Option{nodetest.WithClusterURLs(urls[i]...)}
	}
	nodes := nodetest.StartNodes(t, numNodes, opts)
	restarts := 0

	l := newLedger()
	next := map[int]int{}
	const steps = 30
	serverDown, nodeCut := -1, -1
	begin := time.Now()
	for step := range steps {
		stepStart := time.Now()
		switch r := rng.IntN(10); {
		case r < 6:
			for range 5 {
				u := 20 + rng.IntN(8)
				next[u]++
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := l.put(t, ctx, nodes[rng.IntN(numNodes)], u, next[u])
				cancel()
				if err != nil {
					t.Fatalf("step %d: PUT: %v", step, err)
				}
			}
			if d := time.Since(stepStart); d > time.Second {
				t.Logf("step %d: 5 PUTs took %s", step, d.Round(time.Millisecond))
			}
		case r == 6:
			if serverDown < 0 {
				serverDown = rng.IntN(nodetest.ClusterSize)
				t.Logf("step %d: kill %s", step, c.Name(serverDown))
				c.Kill(serverDown)
			} else {
				t.Logf("step %d: restart %s", step, c.Name(serverDown))
				c.Restart(serverDown)
				serverDown = -1
			}
		case r == 7:
			if nodeCut < 0 {
				nodeCut = rng.IntN(numNodes)
				t.Logf("step %d: cut node %d off from NATS", step, nodeCut)
				for _, p := range proxies[nodeCut] {
					p.Cut()
				}
			} else {
				t.Logf("step %d: heal node %d", step, nodeCut)
				for _, p := range proxies[nodeCut] {
					p.Heal()
				}
				nodeCut = -1
			}
		default:
			i := rng.IntN(numNodes)
			if i == nodeCut {
				continue // it could not start while cut off
			}
			t.Logf("step %d: restart node %d", step, i)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := nodes[i].Shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			cancel()
			restarts++
			n, err := nodetest.TryStartNode(t, append(opts(i), nodetest.WithNodeName(fmt.Sprintf("node-%d-%d", i, restarts)))...)
			if err != nil {
				t.Fatal(err)
			}
			nodes[i] = n
		}
	}
	t.Logf("schedule ran in %s", time.Since(begin).Round(time.Millisecond))
	if serverDown >= 0 {
		c.Restart(serverDown)
	}
	if nodeCut >= 0 {
		for _, p := range proxies[nodeCut] {
			p.Heal()
		}
	}
	for _, n := range nodes {
		waitReady(t, n)
	}
	t.Logf("%d PUTs acknowledged, %d failed", l.okCount(), l.failCount())
	if l.okCount() == 0 {
		t.Fatal("no PUT was acknowledged")
	}
	l.verify(t, nodes)
	converged(t, nodes)
}
