package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// ledger records, per numbered user, the PUTs a test made: the index of the
// last one acknowledged (200) and of the last one attempted. Every user's
// PUTs are sequential, so after the dust settles a node must show, for each
// user, an index between the two: never older than the last acknowledged
// write (nothing acknowledged is lost), never one that was not sent.
type ledger struct {
	mu        sync.Mutex
	acked     map[int]int
	attempted map[int]int
	ok, fail  int
}

func newLedger() *ledger { return &ledger{acked: map[int]int{}, attempted: map[int]int{}} }

// statusMsg is the status_msg of user u's k-th PUT.
func statusMsg(u, k int) string { return fmt.Sprintf("u%d-%d", u, k) }

// putIndexed sends user u's k-th PUT through n and records the outcome. A
// 503 must carry Retry-After; any other failure status fails the test.
func (l *ledger) put(t *testing.T, ctx context.Context, n *nodetest.Node, u, k int) (int, error) {
	l.mu.Lock()
	l.attempted[u] = max(l.attempted[u], k)
	l.mu.Unlock()
	body, _ := json.Marshal(map[string]string{"presence": "online", "status_msg": statusMsg(u, k)})
	r, err := nodetest.Request(ctx, http.MethodPut, n.URL+nodetest.PresencePath(nodetest.UserID(u)), nodetest.UserToken(u), body)
	if err != nil {
		l.mu.Lock()
		l.fail++
		l.mu.Unlock()
		return 0, err
	}
	switch r.Status {
	case http.StatusOK:
		l.mu.Lock()
		l.acked[u] = max(l.acked[u], k)
		l.ok++
		l.mu.Unlock()
	case http.StatusServiceUnavailable:
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After: %s", r.Body)
		}
		l.mu.Lock()
		l.fail++
		l.mu.Unlock()
	default:
		t.Errorf("PUT user %d #%d: unexpected %d %s", u, k, r.Status, r.Body)
	}
	return r.Status, nil
}

// indexOf parses the PUT index out of a GET answer for user u (-1: none).
func indexOf(u int, r *nodetest.Response) int {
	if r.Status != http.StatusOK {
		return -1
	}
	msg, _ := r.JSON["status_msg"].(string)
	k, err := strconv.Atoi(strings.TrimPrefix(msg, fmt.Sprintf("u%d-", u)))
	if err != nil {
		return -1
	}
	return k
}

// verify checks every node against the ledger, waiting for convergence.
func (l *ledger) verify(t *testing.T, nodes []*nodetest.Node) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range nodes {
		for u, acked := range l.acked {
			attempted := l.attempted[u]
			nodetest.Eventually(t, 20*time.Second, func() error {
				r, err := nodetest.Request(context.Background(), http.MethodGet,
					n.URL+nodetest.PresencePath(nodetest.UserID(u)), nodetest.UserToken(u), nil)
				if err != nil {
					return err
				}
				k := indexOf(u, r)
				if k < acked || k > attempted {
					return fmt.Errorf("%s: user %d shows PUT #%d, want between last acknowledged #%d and last attempted #%d (%d %s)",
						n.Config.NodeName, u, k, acked, attempted, r.Status, r.Body)
				}
				return nil
			})
		}
	}
}

// converged waits until every node's projection has the same digest and
// the same applied sequence.
func converged(t *testing.T, nodes []*nodetest.Node) {
	t.Helper()
	nodetest.Eventually(t, 30*time.Second, func() error {
		d0, s0 := nodes[0].Projection().Digest(), nodes[0].Projection().AppliedSeq()
		for _, n := range nodes[1:] {
			d, s := n.Projection().Digest(), n.Projection().AppliedSeq()
			if d != d0 || s != s0 {
				return fmt.Errorf("%s has digest %s at seq %d, %s has %s at seq %d",
					nodes[0].Config.NodeName, d0, s0, n.Config.NodeName, d, s)
			}
		}
		return nil
	})
}

// waitReady waits until n reports ready.
func waitReady(t *testing.T, n *nodetest.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// readyz returns the status code of n's /readyz.
func readyz(n *nodetest.Node) int {
	r, err := nodetest.Request(context.Background(), http.MethodGet, n.URL+"/readyz", "", nil)
	if err != nil {
		return 0
	}
	return r.Status
}

// metric returns the value of an unlabelled gauge of n.
func metric(t *testing.T, n *nodetest.Node, name string) float64 {
	t.Helper()
	mfs, err := n.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// clusterNodes starts a cluster and k nodes connected to all its servers.
func clusterNodes(t *testing.T, k int) (*nodetest.Cluster, []*nodetest.Node) {
	t.Helper()
	c := nodetest.StartCluster(t)
	nodes := nodetest.StartNodes(t, k, func(int) []nodetest.Option {
		return []nodetest.Option{nodetest.WithCluster(c)}
	})
	return c, nodes
}

var errNotYet = fmt.Errorf("not yet")

func errf(format string, a ...any) error { return fmt.Errorf(format, a...) }

func (l *ledger) okCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok
}

func (l *ledger) failCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fail
}
