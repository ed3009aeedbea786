package node_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// writers runs one sequential writer per user, each sending through the
// nodes in turn, until stop is closed. It returns when they have all stopped.
func writers(t *testing.T, l *ledger, nodes []*nodetest.Node, users []int, stop <-chan struct{}) func() {
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			for k := 1; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := l.put(t, ctx, nodes[(u+k)%len(nodes)], u, k)
				cancel()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // a node is restarting; try the next one
				}
			}
		})
	}
	return wg.Wait
}

// TestClusterLeaderKilled kills the NATS server that leads the stream while
// PUTs flow through three nodes, then takes the cluster below quorum. Every
// acknowledged PUT must be on every node at the end; while there is no
// quorum a PUT fails fast with 503 and Retry-After; after failover PUTs are
// acknowledged again.
func TestClusterLeaderKilled(t *testing.T) {
	t.Parallel()
	c, nodes := clusterNodes(t, 3)
	stream := nodes[0].Config.Store.Stream
	l := newLedger()
	users := []int{0, 1, 2, 3, 4, 5}

	stop := make(chan struct{})
	wait := writers(t, l, nodes, users, stop)
	nodetest.Eventually(t, 10*time.Second, func() error {
		if l.okCount() < 30 {
			return errNotYet
		}
		return nil
	})
	leader := c.StreamLeader(stream)
	t.Logf("killing stream leader %s after %d acknowledged PUTs", c.Name(leader), l.okCount())
	c.Kill(leader)
	before := l.okCount()
	nodetest.Eventually(t, 30*time.Second, func() error {
		if l.okCount() < before+30 {
			return errNotYet
		}
		return nil
	})
	close(stop)
	wait()
	t.Logf("%d PUTs acknowledged, %d failed", l.okCount(), l.failCount())
	l.verify(t, nodes)
	converged(t, nodes)

	// Below quorum: one server left of three.
	survivor := (leader + 1) % 3
	c.Kill((leader + 2) % 3)
	nodetest.Eventually(t, 30*time.Second, func() error {
		start := time.Now()
		for _, n := range nodes {
			r, err := nodetest.Request(context.Background(), http.MethodPut, n.URL+nodetest.PresencePath(nodetest.UserID(9)),
				nodetest.UserToken(9), []byte(`{"presence":"offline"}`))
			if err != nil {
				return err
			}
			if r.Status != http.StatusServiceUnavailable {
				return errf("PUT without quorum: %d %s", r.Status, r.Body)
			}
			if r.Header.Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After: %v", r.Header)
			}
		}
		if d := time.Since(start); d > time.Second {
			return errf("PUTs without quorum took %s for three nodes; want them to fail fast", d)
		}
		return nil
	})
	t.Logf("no quorum: PUTs answered 503 (survivor %s)", c.Name(survivor))
	c.Restart(leader)
	c.Restart((leader + 2) % 3)
	nodetest.Eventually(t, 60*time.Second, func() error {
		r, err := nodetest.Request(context.Background(), http.MethodPut, nodes[0].URL+nodetest.PresencePath(nodetest.UserID(9)),
			nodetest.UserToken(9), []byte(`{"presence":"online","status_msg":"back"}`))
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK {
			return errf("PUT after quorum is back: %d %s", r.Status, r.Body)
		}
		return nil
	})
	for _, n := range nodes {
		waitReady(t, n)
	}
	l.verify(t, nodes)
	converged(t, nodes)
}

// liveNodes is the set of nodes writers may use, changed as nodes restart.
type liveNodes struct {
	mu    sync.Mutex
	nodes []*nodetest.Node
}

func (l *liveNodes) set(nodes []*nodetest.Node) {
	l.mu.Lock()
	l.nodes = append([]*nodetest.Node{}, nodes...)
	l.mu.Unlock()
}

func (l *liveNodes) pick(i int) *nodetest.Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nodes[i%len(l.nodes)]
}

// writersVia is writers over a changing set of nodes; it returns when all
// writers have stopped.
func writersVia(t *testing.T, l *ledger, live *liveNodes, users []int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			for k := 1; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := l.put(t, ctx, live.pick(u+k), u, k)
				cancel()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}
