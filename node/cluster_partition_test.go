package node_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// TestClusterPartition cuts a node off from NATS with a TCP proxy while the
// cluster and another node carry on. The cut-off node must report not
// ready, fail PUTs fast with 503 and Retry-After, refuse consistent reads,
// answer plain GETs from its last known state and report growing staleness;
// once healed it must catch up by itself, without a gap, and be ready again.
func TestClusterPartition(t *testing.T) {
	t.Parallel()
	c := nodetest.StartCluster(t)
	proxy := nodetest.StartProxy(t, c.URL(0)[len("nats://"):])
	nodes := nodetest.StartNodes(t, 2, func(i int) []nodetest.Option {
		if i == 0 {
			return []nodetest.Option{nodetest.WithClusterURLs(proxy.URL())}
		}
		return []nodetest.Option{nodetest.WithCluster(c)}
	})
	cut, other := nodes[0], nodes[1]

	if r := cut.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online", "status_msg": "before"}); r.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	if s := metric(t, cut, "presenced_projection_staleness_seconds"); s > 5 {
		t.Fatalf("staleness %.1fs on a connected node", s)
	}

	proxy.Cut()
	nodetest.Eventually(t, 10*time.Second, func() error {
		if s := readyz(cut); s != http.StatusServiceUnavailable {
			return errf("readyz of the cut-off node: %d", s)
		}
		return nil
	})
	start := time.Now()
	r := cut.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online", "status_msg": "during"})
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("PUT while cut off: %d %v %s", r.Status, r.Header, r.Body)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("PUT while cut off took %s; want it to fail fast", d)
	}
	if r := other.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "unavailable", "status_msg": "elsewhere"}); r.Status != http.StatusOK {
		t.Fatalf("PUT through the connected node: %d %s", r.Status, r.Body)
	}
	if g := cut.Get(t, "bob-token", "@alice:example.org"); g.Status != http.StatusOK || g.JSON["status_msg"] != "before" {
		t.Fatalf("GET while cut off, want the last known state: %d %s", g.Status, g.Body)
	}
	g := nodetest.DefaultClient.Do(t, http.MethodGet, cut.URL+nodetest.PresencePath("@alice:example.org")+"?consistent=true", "bob-token", nil)
	if g.Status != http.StatusServiceUnavailable || g.Header.Get("Retry-After") == "" {
		t.Fatalf("consistent read while cut off: %d %s", g.Status, g.Body)
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if s := metric(t, cut, "presenced_projection_staleness_seconds"); s < 1 {
			return errf("staleness %.2fs while cut off; want it to grow", s)
		}
		return nil
	})
	if readyz(other) != http.StatusOK {
		t.Fatal("the connected node is not ready")
	}

	proxy.Heal()
	waitReady(t, cut)
	nodetest.Eventually(t, 10*time.Second, func() error {
		if g := cut.Get(t, "bob-token", "@alice:example.org"); g.JSON["status_msg"] != "elsewhere" {
			return errf("healed node shows %s", g.Body)
		}
		return nil
	})
	if s := metric(t, cut, "presenced_projection_staleness_seconds"); s > 5 {
		t.Fatalf("staleness %.1fs after catching up", s)
	}
	if r := cut.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online", "status_msg": "after"}); r.Status != http.StatusOK {
		t.Fatalf("PUT after healing: %d %s", r.Status, r.Body)
	}
	converged(t, nodes)
}
