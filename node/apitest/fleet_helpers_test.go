package apitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// startFleetNode starts a node serving the internal API, with short timers
// so that transitions can be waited for.
func startFleetNode(t *testing.T, opts ...nodetest.Option) *nodetest.Node {
	t.Helper()
	base := []nodetest.Option{nodetest.WithFleet(t), nodetest.WithConfig(func(c *node.Config) {
		c.SyncTimeout = 1500 * time.Millisecond
	})}
	return nodetest.StartNode(t, append(base, opts...)...)
}

// fleetCall sends body (JSON-encoded unless it is []byte) to the internal
// API of n with token, through the OpenAPI-checked client.
func fleetCall(t testing.TB, n *nodetest.Node, method, path, token string, body any) *nodetest.Response {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return api.Do(t, method, n.InternalURL+path, token, b)
}

// fleet sends body with the shared secret and fails unless it is answered 200.
func fleet(t testing.TB, n *nodetest.Node, path string, body any) *nodetest.Response {
	t.Helper()
	r := fleetCall(t, n, http.MethodPost, path, nodetest.FleetSecret, body)
	if r.Status != http.StatusOK {
		t.Fatalf("POST %s %v: %d %s", path, body, r.Status, r.Body)
	}
	return r
}

func syncDevice(t testing.TB, n *nodetest.Node, user, device, set string) {
	t.Helper()
	body := map[string]any{"user_id": user, "device_id": device}
	if set != "" {
		body["set_presence"] = set
	}
	fleet(t, n, "/_presence/v1/sync", body)
}

// changes reads the change feed of n after since.
func changes(t testing.TB, n *nodetest.Node, since string, timeout time.Duration) (next string, list []map[string]any) {
	t.Helper()
	path := fmt.Sprintf("/_presence/v1/changes?timeout=%d", timeout.Milliseconds())
	if since != "" {
		path += "&since=" + since
	}
	r := fleetCall(t, n, http.MethodGet, path, nodetest.FleetSecret, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	if r.JSON["reset"] == true {
		t.Fatalf("GET %s: unexpected reset %s", path, r.Body)
	}
	for _, c := range r.JSON["changes"].([]any) {
		list = append(list, c.(map[string]any))
	}
	return r.JSON["next"].(string), list
}

// presenceOf polls GET until userID reads want, or fails.
func presenceOf(t testing.TB, n *nodetest.Node, userID, want string, within time.Duration) map[string]any {
	t.Helper()
	var got map[string]any
	nodetest.Eventually(t, within, func() error {
		r := get(t, n, aliceToken, userID)
		if r.Status != http.StatusOK || r.JSON["presence"] != want {
			return fmt.Errorf("%s reads %d %s, want %s", userID, r.Status, r.Body, want)
		}
		got = r.JSON
		return nil
	})
	return got
}
