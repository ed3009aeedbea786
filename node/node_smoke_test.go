package node_test

import (
	"net/http"
	"testing"

	"github.com/presenced/presenced/node/nodetest"
)

// TestPutThenGet is the basic round trip: a PUT acknowledged by JetStream is
// read back by a GET on the same node.
func TestPutThenGet(t *testing.T) {
	n := nodetest.StartNode(t)
	r := n.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online", "status_msg": "hi"})
	if r.Status != http.StatusOK || string(r.Body) != "{}" {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	g := n.Get(t, "bob-token", "@alice:example.org")
	if g.Status != http.StatusOK || g.JSON["presence"] != "online" || g.JSON["status_msg"] != "hi" {
		t.Fatalf("GET: %d %s", g.Status, g.Body)
	}
}
