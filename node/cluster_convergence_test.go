package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/nodetest"
)

// TestClusterConvergence starts three nodes at once on a fresh cluster (so
// they race to create the stream), then checks that writes through any node
// are read back by every node, that a writer reads its own write at once,
// that a consistent read on another node sees a write at once, and that
// concurrent writes for one user through different nodes end in the same
// state everywhere: the one the stream ordered last.
func TestClusterConvergence(t *testing.T) {
	t.Parallel()
	c, nodes := clusterNodes(t, 3)

	_, js := c.Connect()
	s, err := js.Stream(context.Background(), nodes[0].Config.Store.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Replicas; got != 3 {
		t.Fatalf("stream replicas %d, want 3", got)
	}

	t.Run("read-your-writes and convergence", func(t *testing.T) {
		for i, n := range nodes {
			msg := fmt.Sprintf("via %d", i)
			r := n.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online", "status_msg": msg})
			if r.Status != http.StatusOK {
				t.Fatalf("PUT via node %d: %d %s", i, r.Status, r.Body)
			}
			if g := n.Get(t, "bob-token", "@alice:example.org"); g.JSON["status_msg"] != msg {
				t.Fatalf("node %d does not read its own write: %s", i, g.Body)
			}
			for j, other := range nodes {
				nodetest.Eventually(t, 5*time.Second, func() error {
					if g := other.Get(t, "bob-token", "@alice:example.org"); g.JSON["status_msg"] != msg {
						return fmt.Errorf("node %d shows %s, want %q", j, g.Body, msg)
					}
					return nil
				})
			}
		}
	})

	t.Run("consistent read", func(t *testing.T) {
		for k := range 20 {
			msg := fmt.Sprintf("consistent %d", k)
			writer, reader := nodes[k%3], nodes[(k+1)%3]
			if r := writer.Put(t, "bob-token", "@bob:example.org", map[string]any{"presence": "unavailable", "status_msg": msg}); r.Status != http.StatusOK {
				t.Fatalf("PUT: %d %s", r.Status, r.Body)
			}
			g := nodetest.DefaultClient.Do(t, http.MethodGet, reader.URL+nodetest.PresencePath("@bob:example.org")+"?consistent=true", "alice-token", nil)
			if g.Status != http.StatusOK || g.JSON["status_msg"] != msg {
				t.Fatalf("consistent read after a write on another node: %d %s, want %q", g.Status, g.Body, msg)
			}
		}
		g := nodetest.DefaultClient.Do(t, http.MethodGet, nodes[0].URL+nodetest.PresencePath("@bob:example.org")+"?consistent=maybe", "alice-token", nil)
		if g.Status != http.StatusBadRequest || g.Errcode() != "M_INVALID_PARAM" {
			t.Fatalf("consistent=maybe: %d %s", g.Status, g.Body)
		}
	})

	t.Run("concurrent writes for one user", func(t *testing.T) {
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() {
				for k := range 15 {
					body, _ := json.Marshal(map[string]string{"presence": "online", "status_msg": fmt.Sprintf("n%d-%d", i, k)})
					r, err := nodetest.Request(context.Background(), http.MethodPut, n.URL+nodetest.PresencePath("@carol:example.org"), "carol-token", body)
					if err != nil || r.Status != http.StatusOK {
						t.Errorf("PUT via node %d: %v %v", i, err, r)
						return
					}
				}
			})
		}
		wg.Wait()
		converged(t, nodes)
		raw, err := s.GetLastMsgForSubject(context.Background(), events.Subject(nodes[0].Config.Store.SubjectPrefix, "@carol:example.org"))
		if err != nil {
			t.Fatal(err)
		}
		last, err := events.Decode(raw.Data)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range nodes {
			if g := n.Get(t, "alice-token", "@carol:example.org"); g.JSON["status_msg"] != *last.StatusMsg {
				t.Fatalf("node %d shows %s; the stream's last event says %q", i, g.Body, *last.StatusMsg)
			}
		}
	})
}
