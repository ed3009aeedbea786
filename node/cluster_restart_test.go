package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// TestClusterRollingRestart restarts every presence node in turn while
// writers keep sending PUTs through whichever nodes are up, then adds a
// node that starts from nothing. Each restarted and added node must catch
// up from the stream and become ready, and no acknowledged PUT may be lost.
func TestClusterRollingRestart(t *testing.T) {
	t.Parallel()
	c, nodes := clusterNodes(t, 3)
	l := newLedger()
	users := []int{10, 11, 12, 13}

	// Writers go through a set of nodes that changes during the restart.
	var live liveNodes
	live.set(nodes)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		writersVia(t, l, &live, users, stop)
	}()

	for i := range nodes {
		target := l.okCount() + 20
		nodetest.Eventually(t, 20*time.Second, func() error {
			if l.okCount() < target {
				return errNotYet
			}
			return nil
		})
		old := nodes[i]
		rest := append(append([]*nodetest.Node{}, nodes[:i]...), nodes[i+1:]...)
		live.set(rest)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := old.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown of %s: %v", old.Config.NodeName, err)
		}
		cancel()
		n, err := nodetest.TryStartNode(t, nodetest.WithCluster(c), nodetest.WithNodeName(fmt.Sprintf("node-%d-restarted", i)))
		if err != nil {
			t.Fatal(err)
		}
		waitReady(t, n)
		nodes[i] = n
		live.set(nodes)
		t.Logf("restarted node %d; %d PUTs acknowledged so far", i, l.okCount())
	}
	close(stop)
	<-done

	late, err := nodetest.TryStartNode(t, nodetest.WithCluster(c), nodetest.WithNodeName("node-late"))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, late)
	all := append(nodes, late)
	t.Logf("%d PUTs acknowledged, %d failed", l.okCount(), l.failCount())
	l.verify(t, all)
	converged(t, all)
}
