package apitest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// TestFleetOnlyOnInternalListener: the public listener does not serve the
// internal API, and a node without --internal-listen serves none.
func TestFleetOnlyOnInternalListener(t *testing.T) {
	n := startFleetNode(t)
	r := api.Do(t, http.MethodPost, n.URL+"/_presence/v1/sync", nodetest.FleetSecret,
		[]byte(`{"user_id":"@alice:example.org","device_id":"D"}`))
	wantError(t, r, http.StatusNotFound, "M_UNRECOGNIZED")
	if plain := nodetest.StartNode(t); plain.InternalURL != "" {
		t.Fatalf("a node without --internal-listen serves %s", plain.InternalURL)
	}
}

// TestFleetSecret: no secret is 401 M_MISSING_TOKEN, a wrong one 401
// M_UNKNOWN_TOKEN, on every endpoint; a user's access token is not the
// secret.
func TestFleetSecret(t *testing.T) {
	n := startFleetNode(t)
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/_presence/v1/sync", `{"user_id":"@alice:example.org","device_id":"D"}`},
		{http.MethodPost, "/_presence/v1/active", `{"user_id":"@alice:example.org","device_id":"D"}`},
		{http.MethodGet, "/_presence/v1/changes", ""},
		{http.MethodPost, "/_presence/v1/query", `{"user_ids":[]}`},
		{http.MethodPost, "/_presence/v1/federation", `{"origin":"remote.test","push":[]}`},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		wantError(t, fleetCall(t, n, c.method, c.path, "", body), http.StatusUnauthorized, "M_MISSING_TOKEN")
		wantError(t, fleetCall(t, n, c.method, c.path, "wrong-secret", body), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		wantError(t, fleetCall(t, n, c.method, c.path, aliceToken, body), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		if r := fleetCall(t, n, c.method, c.path, nodetest.FleetSecret, body); r.Status != http.StatusOK {
			t.Fatalf("%s %s with the secret: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
}

// TestFleetBadRequests: malformed bodies and parameters are Matrix errors.
func TestFleetBadRequests(t *testing.T) {
	n := startFleetNode(t, nodetest.WithConfig(func(c *node.Config) { c.HTTP.InternalMaxBodyBytes = 1 << 20 }))
	post := func(path string, body string) *nodetest.Response {
		return fleetCall(t, n, http.MethodPost, path, nodetest.FleetSecret, []byte(body))
	}
	wantError(t, post("/_presence/v1/sync", `not json`), http.StatusBadRequest, "M_NOT_JSON")
	wantError(t, post("/_presence/v1/sync", `[1]`), http.StatusBadRequest, "M_BAD_JSON")
	wantError(t, post("/_presence/v1/sync", `{"user_id":5,"device_id":"D"}`), http.StatusBadRequest, "M_BAD_JSON")
	wantError(t, post("/_presence/v1/sync", `{"device_id":"D"}`), http.StatusBadRequest, "M_MISSING_PARAM")
	wantError(t, post("/_presence/v1/sync", `{"user_id":"@alice:example.org"}`), http.StatusBadRequest, "M_MISSING_PARAM")
	wantError(t, post("/_presence/v1/sync", `{"user_id":"@alice:example.org","device_id":"D","set_presence":"busy"}`), http.StatusBadRequest, "M_INVALID_PARAM")
	wantError(t, post("/_presence/v1/sync", `{"user_id":"alice","device_id":"D"}`), http.StatusBadRequest, "M_INVALID_PARAM")
	wantError(t, post("/_presence/v1/sync", `{"user_id":"@carol:remote.test","device_id":"D"}`), http.StatusBadRequest, "M_INVALID_PARAM")
	wantError(t, post("/_presence/v1/active", `{"user_id":"@alice:example.org"}`), http.StatusBadRequest, "M_MISSING_PARAM")
	wantError(t, post("/_presence/v1/query", `{}`), http.StatusBadRequest, "M_MISSING_PARAM")
	wantError(t, post("/_presence/v1/query", `{"user_ids":["nope"]}`), http.StatusBadRequest, "M_INVALID_PARAM")
	ids := make([]string, 10001)
	for i := range ids {
		ids[i] = fmt.Sprintf(`"@u%d:example.org"`, i)
	}
	wantError(t, post("/_presence/v1/query", `{"user_ids":[`+strings.Join(ids, ",")+`]}`), http.StatusBadRequest, "M_INVALID_PARAM")
	wantError(t, post("/_presence/v1/federation", `{"push":[]}`), http.StatusBadRequest, "M_MISSING_PARAM")
	wantError(t, post("/_presence/v1/federation", `{"origin":"remote.test"}`), http.StatusBadRequest, "M_MISSING_PARAM")
	big := `{"user_ids":["` + strings.Repeat("x", 1<<20) + `"]}`
	wantError(t, post("/_presence/v1/query", big), http.StatusRequestEntityTooLarge, "M_TOO_LARGE")
	for _, q := range []string{"since=nonsense", "since=zz-1", "since=1-01", "limit=0", "limit=x", "timeout=-1"} {
		r := fleetCall(t, n, http.MethodGet, "/_presence/v1/changes?"+q, nodetest.FleetSecret, nil)
		wantError(t, r, http.StatusBadRequest, "M_INVALID_PARAM")
	}
}

// TestFleetDeviceAggregation: the user's state is the strongest live
// device; a device dropped by the sync timeout takes its state with it; the
// user goes offline once the last device is gone.
func TestFleetDeviceAggregation(t *testing.T) {
	n := startFleetNode(t)
	syncDevice(t, n, alice, "PHONE", "online")
	syncDevice(t, n, alice, "LAPTOP", "unavailable")
	if got := mustGet(t, n, bobToken, alice); got["presence"] != "online" || got["currently_active"] != true {
		t.Fatalf("one device online, one unavailable: %v", got)
	}
	// Only the laptop keeps syncing: once the phone's sync times out, the
	// user reads unavailable.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				syncDevice(t, n, alice, "LAPTOP", "unavailable")
			}
		}
	}()
	presenceOf(t, n, alice, "unavailable", 10*time.Second)
	close(stop)
	<-done
	presenceOf(t, n, alice, "offline", 10*time.Second)
}

// TestFleetPutOfflineWhileAnotherDeviceSyncs: a PUT of offline from one
// device leaves the user online while another device syncs (Synapse's
// per-device rule); a sync does not change the status message.
func TestFleetPutOfflineWhileAnotherDeviceSyncs(t *testing.T) {
	n := startFleetNode(t, nodetest.WithConfig(func(c *node.Config) { c.SyncTimeout = time.Minute }))
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "at my desk"})
	syncDevice(t, n, alice, "PHONE", "online")
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "offline", "status_msg": "gone"})
	got := mustGet(t, n, bobToken, alice)
	if got["presence"] != "online" || got["status_msg"] != "gone" {
		t.Fatalf("PUT offline while a device syncs: %v, want online with the PUT's message", got)
	}
	syncDevice(t, n, alice, "PHONE", "online")
	if got := mustGet(t, n, bobToken, alice); got["status_msg"] != "gone" {
		t.Fatalf("a sync changed the status message: %v", got)
	}
}

// TestFleetSyncOffline: set_presence=offline means the sync does not touch
// presence: nothing is stored, a user with no state stays without one.
func TestFleetSyncOffline(t *testing.T) {
	n := startFleetNode(t)
	next, _ := changes(t, n, "", 0)
	syncDevice(t, n, alice, "PHONE", "offline")
	wantNoState(t, get(t, n, bobToken, alice))
	if _, list := changes(t, n, next, 200*time.Millisecond); len(list) != 0 {
		t.Fatalf("a sync with set_presence=offline stored %v", list)
	}
	syncDevice(t, n, alice, "PHONE", "")
	if got := mustGet(t, n, bobToken, alice); got["presence"] != "online" {
		t.Fatalf("a sync without set_presence: %v, want online", got)
	}
}

// TestFleetActive: activity raises an unavailable device to online.
func TestFleetActive(t *testing.T) {
	n := startFleetNode(t, nodetest.WithConfig(func(c *node.Config) { c.SyncTimeout = time.Minute }))
	syncDevice(t, n, alice, "PHONE", "unavailable")
	if got := mustGet(t, n, bobToken, alice); got["presence"] != "unavailable" {
		t.Fatalf("after an unavailable sync: %v", got)
	}
	fleet(t, n, "/_presence/v1/active", map[string]any{"user_id": alice, "device_id": "PHONE"})
	if got := mustGet(t, n, bobToken, alice); got["presence"] != "online" || got["currently_active"] != true {
		t.Fatalf("after activity: %v, want online and currently active", got)
	}
}

// TestFleetSyncTimeoutInFeedOnce: a device that stops syncing goes offline
// after the sync timeout, and the change feed shows that transition once.
func TestFleetSyncTimeoutInFeedOnce(t *testing.T) {
	n := startFleetNode(t)
	start, _ := changes(t, n, "", 0)
	syncDevice(t, n, alice, "PHONE", "online")
	presenceOf(t, n, alice, "offline", 10*time.Second)
	// Wait until the transition is stored (the feed shows it), then count.
	var offline int
	pos := start
	nodetest.Eventually(t, 10*time.Second, func() error {
		next, list := changes(t, n, pos, 100*time.Millisecond)
		pos = next
		for _, c := range list {
			if c["user_id"] == alice && c["presence"] == "offline" {
				offline++
			}
		}
		if offline == 0 {
			return fmt.Errorf("no offline change for alice yet")
		}
		return nil
	})
	// Nothing more happens to alice: a second read of the whole range still
	// has her once, offline, and nothing new arrives.
	_, all := changes(t, n, start, 0)
	if len(all) != 1 || all[0]["presence"] != "offline" {
		t.Fatalf("changes since the start: %v, want alice once, offline", all)
	}
	if _, list := changes(t, n, pos, 500*time.Millisecond); len(list) != 0 {
		t.Fatalf("changes after the transition: %v", list)
	}
	if offline != 1 {
		t.Fatalf("offline shown %d times", offline)
	}
}

// TestChangeFeed: positions, long poll, limits, coalescing, reset.
func TestChangeFeed(t *testing.T) {
	n := startFleetNode(t)
	start, list := changes(t, n, "", 0)
	if len(list) != 0 {
		t.Fatalf("without since: %v, want no changes", list)
	}
	// A long poll with nothing to report answers an empty list with the
	// same position once its timeout has passed.
	began := time.Now()
	next, list := changes(t, n, start, 300*time.Millisecond)
	if next != start || len(list) != 0 || time.Since(began) < 250*time.Millisecond {
		t.Fatalf("idle long poll: next %s (want %s), %v, after %v", next, start, list, time.Since(began))
	}
	// A long poll wakes for a change.
	got := make(chan []map[string]any, 1)
	go func() {
		_, l := changes(t, n, start, 10*time.Second)
		got <- l
	}()
	time.Sleep(100 * time.Millisecond) // let the poll start waiting; it is woken either way
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "one"})
	if l := <-got; len(l) != 1 || l[0]["user_id"] != alice || l[0]["status_msg"] != "one" {
		t.Fatalf("woken long poll: %v", l)
	}
	// Coalescing: three writes of alice and one of bob read as one change
	// each, alice with her latest state, in stream order.
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "two"})
	mustPut(t, n, bobToken, bob, map[string]any{"presence": "unavailable"})
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "three"})
	_, all := changes(t, n, start, 0)
	if len(all) != 2 || all[0]["user_id"] != bob || all[1]["user_id"] != alice || all[1]["status_msg"] != "three" {
		t.Fatalf("coalesced changes: %v", all)
	}
	// limit cuts the page; next resumes after it.
	r := fleetCall(t, n, http.MethodGet, "/_presence/v1/changes?limit=1&since="+start, nodetest.FleetSecret, nil)
	page := r.JSON["changes"].([]any)
	if r.Status != http.StatusOK || len(page) != 1 || page[0].(map[string]any)["user_id"] != bob {
		t.Fatalf("limit=1: %d %s", r.Status, r.Body)
	}
	_, rest := changes(t, n, r.JSON["next"].(string), 0)
	if len(rest) != 1 || rest[0]["user_id"] != alice {
		t.Fatalf("after the first page: %v", rest)
	}
	// Positions this stream never produced: ahead of it, or of another
	// stream (another epoch).
	epoch, _, _ := strings.Cut(start, "-")
	for _, pos := range []string{epoch + "-999999", "1-0"} {
		r := fleetCall(t, n, http.MethodGet, "/_presence/v1/changes?since="+pos, nodetest.FleetSecret, nil)
		if r.Status != http.StatusOK || r.JSON["reset"] != true || r.JSON["next"] == "" {
			t.Fatalf("since=%s: %d %s, want a reset", pos, r.Status, r.Body)
		}
	}
}

// TestBulkQuery: the states of the users asked for that have one, and a
// position from which the feed misses nothing.
func TestBulkQuery(t *testing.T) {
	n := startFleetNode(t)
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "hi"})
	r := fleet(t, n, "/_presence/v1/query", map[string]any{"user_ids": []string{alice, bob, alice}})
	states := r.JSON["presence"].(map[string]any)
	if len(states) != 1 || states[alice].(map[string]any)["status_msg"] != "hi" {
		t.Fatalf("query: %s", r.Body)
	}
	pos := r.JSON["position"].(string)
	mustPut(t, n, bobToken, bob, map[string]any{"presence": "online"})
	if _, list := changes(t, n, pos, 0); len(list) != 1 || list[0]["user_id"] != bob {
		t.Fatalf("feed after the query's position: %v", list)
	}
}

// TestFederationIngest: items are taken only for users of the origin that
// are not ours and have a valid presence; a remote user then reads the
// received state, and offline after the federation timeout.
func TestFederationIngest(t *testing.T) {
	n := startFleetNode(t, nodetest.WithConfig(func(c *node.Config) { c.FederationTimeout = 2 * time.Second }))
	ago := 5000
	r := fleet(t, n, "/_presence/v1/federation", map[string]any{"origin": "remote.test", "push": []any{
		map[string]any{"user_id": "@carol:remote.test", "presence": "online", "last_active_ago": ago, "status_msg": "far away", "currently_active": true},
		map[string]any{"user_id": "@mallory:other.test", "presence": "online"}, // not the origin's user
		map[string]any{"user_id": "@alice:example.org", "presence": "offline"}, // one of ours
		map[string]any{"user_id": "@dave:remote.test"},                         // no presence
		map[string]any{"presence": "online"},                                   // no user
		map[string]any{"user_id": "@erin:remote.test", "presence": "busy"},     // not a state
		map[string]any{"user_id": "@frank:remote.test", "presence": "online", "last_active_ago": "x"},
		"not an object",
	}})
	if r.JSON["accepted"] != float64(1) || r.JSON["rejected"] != float64(7) {
		t.Fatalf("federation: %s, want 1 accepted, 7 rejected", r.Body)
	}
	got := mustGet(t, n, aliceToken, "@carol:remote.test")
	if got["presence"] != "online" || got["status_msg"] != "far away" || got["currently_active"] != true || lastActiveAgo(t, got) < int64(ago) {
		t.Fatalf("remote user: %v", got)
	}
	wantNoState(t, get(t, n, bobToken, alice))
	wantError(t, get(t, n, aliceToken, "@mallory:other.test"), http.StatusNotFound, "M_NOT_FOUND")
	presenceOf(t, n, "@carol:remote.test", "offline", 10*time.Second)
}

// TestMirrorSync: the proxy's copy of a /sync, authenticated by the user's
// own token, records the sync like the shared-secret endpoint does.
func TestMirrorSync(t *testing.T) {
	n := startFleetNode(t)
	r := fleetCall(t, n, http.MethodGet, "/_presence/v1/mirror/sync?timeout=0&set_presence=unavailable", aliceToken, nil)
	if r.Status != http.StatusNoContent {
		t.Fatalf("mirror: %d %s", r.Status, r.Body)
	}
	if got := mustGet(t, n, bobToken, alice); got["presence"] != "unavailable" {
		t.Fatalf("after a mirrored sync: %v", got)
	}
	wantError(t, fleetCall(t, n, http.MethodGet, "/_presence/v1/mirror/sync", "bad-token", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	wantError(t, fleetCall(t, n, http.MethodGet, "/_presence/v1/mirror/sync", "", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
	wantError(t, fleetCall(t, n, http.MethodGet, "/_presence/v1/mirror/sync?set_presence=busy", aliceToken, nil), http.StatusBadRequest, "M_INVALID_PARAM")
	// The sync timeout then drops the (device-less) sync: offline.
	presenceOf(t, n, alice, "offline", 10*time.Second)
}
