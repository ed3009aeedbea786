package node_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// TestShutdownDelayKeepsServingWhileNotReady: during --shutdown-delay a
// stopping node fails /readyz but still answers the API, so a load balancer
// can take it out of rotation before its listener closes.
func TestShutdownDelayKeepsServingWhileNotReady(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) { c.ShutdownDelay = 2 * time.Second }))
	if r := n.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online"}); r.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- n.Shutdown(ctx)
	}()
	nodetest.Eventually(t, 5*time.Second, func() error {
		r := nodetest.DefaultClient.Do(t, http.MethodGet, n.URL+"/readyz", "", nil)
		if r.Status != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz: %d %s", r.Status, r.Body)
		}
		return nil
	})
	if r := n.Get(t, "bob-token", "@alice:example.org"); r.Status != http.StatusOK {
		t.Fatalf("GET during the shutdown delay: %d %s", r.Status, r.Body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}
