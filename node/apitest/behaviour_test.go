package apitest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// TestStatusMsgClearing: a PUT replaces the whole state. A PUT without
// status_msg, with "status_msg": null or with an empty one clears it; a GET
// then omits the key (never null).
func TestStatusMsgClearing(t *testing.T) {
	n := nodetest.StartNode(t)
	for _, clear := range []string{
		`{"presence":"online"}`,
		`{"presence":"online","status_msg":null}`,
		`{"presence":"unavailable","status_msg":""}`,
	} {
		mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": "lunch"})
		if got := mustGet(t, n, bobToken, alice)["status_msg"]; got != "lunch" {
			t.Fatalf("status_msg %v, want lunch", got)
		}
		if r := putRaw(t, n, aliceToken, alice, []byte(clear)); r.Status != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", clear, r.Status, r.Body)
		}
		got := mustGet(t, n, bobToken, alice)
		if _, has := got["status_msg"]; has {
			t.Fatalf("after PUT %s: GET %v still has status_msg", clear, got)
		}
	}
}

// TestUnknownKeysIgnored: keys other than presence and status_msg are
// ignored, including ones that look like read-only state.
func TestUnknownKeysIgnored(t *testing.T) {
	n := nodetest.StartNode(t)
	r := putRaw(t, n, aliceToken, alice, []byte(`{"presence":"online","status_msg":"hi",
		"last_active_ago":999999999,"currently_active":false,"user_id":"@bob:example.org",
		"extra":{"nested":[1,2,null]},"also":null}`))
	if r.Status != http.StatusOK {
		t.Fatalf("PUT with unknown keys: %d %s", r.Status, r.Body)
	}
	got := mustGet(t, n, bobToken, alice)
	if got["presence"] != "online" || got["status_msg"] != "hi" || got["currently_active"] != true {
		t.Fatalf("GET %v", got)
	}
	if ago := lastActiveAgo(t, got); ago > 60_000 {
		t.Fatalf("last_active_ago %d taken from the body", ago)
	}
	wantNoState(t, get(t, n, aliceToken, bob))
}

// TestR0Paths: the r0 paths are aliases of v3; writes on one are read on
// the other.
func TestR0Paths(t *testing.T) {
	n := nodetest.StartNode(t)
	r0 := func(id string) string { return n.URL + strings.Replace(nodetest.PresencePath(id), "/v3/", "/r0/", 1) }
	if r := api.Do(t, http.MethodPut, r0(alice), aliceToken, []byte(`{"presence":"unavailable","status_msg":"r0"}`)); r.Status != http.StatusOK {
		t.Fatalf("PUT r0: %d %s", r.Status, r.Body)
	}
	if got := mustGet(t, n, bobToken, alice); got["presence"] != "unavailable" || got["status_msg"] != "r0" {
		t.Fatalf("GET v3 after PUT r0: %v", got)
	}
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
	r := api.Do(t, http.MethodGet, r0(alice), bobToken, nil)
	if r.Status != http.StatusOK || r.JSON["presence"] != "online" {
		t.Fatalf("GET r0 after PUT v3: %d %s", r.Status, r.Body)
	}
	wantNoState(t, api.Do(t, http.MethodGet, r0(carol), bobToken, nil))
	wantError(t, api.Do(t, http.MethodPut, r0(bob), aliceToken, []byte(`{"presence":"online"}`)), http.StatusForbidden, "M_FORBIDDEN")
}

// TestEncodedUserIDs: user IDs arrive percent-encoded, and a localpart may
// hold '/' as %2F; every encoding of one ID names the same user.
func TestEncodedUserIDs(t *testing.T) {
	n := nodetest.StartNode(t)
	mustPut(t, n, weirdToken, weird, map[string]any{"presence": "online", "status_msg": "slash"})
	for _, p := range []string{
		"/_matrix/client/v3/presence/%40we%2Fird.user%3Aexample.org/status",
		"/_matrix/client/v3/presence/@we%2Fird.user:example.org/status",
		"/_matrix/client/v3/presence/%40we%2fird%2euser%3aexample%2Eorg/status",
		"/_matrix/client/r0/presence/%40we%2Fird.user%3Aexample.org/status",
	} {
		r := api.Do(t, http.MethodGet, n.URL+p, aliceToken, nil)
		if r.Status != http.StatusOK || r.JSON["status_msg"] != "slash" {
			t.Fatalf("GET %s: %d %s", p, r.Status, r.Body)
		}
	}
	// The fully encoded form works for PUT too, and alice's ID in any
	// encoding is alice.
	r := api.Do(t, http.MethodPut, n.URL+"/_matrix/client/v3/presence/%40we%2Fird.user%3Aexample.org/status",
		weirdToken, []byte(`{"presence":"offline"}`))
	if r.Status != http.StatusOK {
		t.Fatalf("PUT encoded: %d %s", r.Status, r.Body)
	}
	if got := mustGet(t, n, aliceToken, weird)["presence"]; got != "offline" {
		t.Fatalf("presence %v after PUT on the encoded path", got)
	}
	r = api.Do(t, http.MethodPut, n.URL+"/_matrix/client/v3/presence/%40alice%3Aexample.org/status", aliceToken, []byte(`{"presence":"online"}`))
	if r.Status != http.StatusOK {
		t.Fatalf("PUT %%40alice%%3A: %d %s", r.Status, r.Body)
	}
	mustGet(t, n, bobToken, alice)
	// A '/' that is not a separator must not be decoded into one: a doubly
	// encoded ID is a different (invalid) ID, not weird's.
	wantError(t, api.Do(t, http.MethodGet, n.URL+"/_matrix/client/v3/presence/%2540we%252Fird.user%253Aexample.org/status", aliceToken, nil),
		http.StatusBadRequest, "M_INVALID_PARAM")
}

// TestCORS: every answer to a CORS request (one with Origin) carries
// Access-Control-Allow-Origin: *, and no other answer does (the OpenAPI
// check asserts both on every exchange); preflights are answered 200
// without authentication on every documented path.
func TestCORS(t *testing.T) {
	n := nodetest.StartNode(t)
	for _, p := range []string{nodetest.PresencePath(alice), "/_matrix/client/r0/presence/%40alice%3Aexample.org/status", "/healthz", "/readyz"} {
		req, _ := http.NewRequest(http.MethodOptions, n.URL+p, nil)
		req.Header.Set("Origin", "https://app.example.org")
		req.Header.Set("Access-Control-Request-Method", "PUT")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		r := api.Send(t, req, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("OPTIONS %s: %d %s", p, r.Status, r.Body)
		}
		methods := r.Header.Get("Access-Control-Allow-Methods")
		for _, m := range []string{"GET", "PUT", "OPTIONS"} {
			if !strings.Contains(methods, m) {
				t.Errorf("OPTIONS %s: Access-Control-Allow-Methods %q lacks %s", p, methods, m)
			}
		}
		headers := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"authorization", "content-type"} {
			if !strings.Contains(headers, h) {
				t.Errorf("OPTIONS %s: Access-Control-Allow-Headers %q lacks %s", p, headers, h)
			}
		}
	}
	// Errors carry the CORS header too, so that a browser client can read them.
	req := nodetest.NewRequest(t, http.MethodGet, n.URL+nodetest.PresencePath(alice), "", nil)
	req.Header.Set("Origin", "https://app.example.org")
	r := api.Send(t, req, nil)
	if r.Status != http.StatusUnauthorized || r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("401 to a CORS request without CORS header: %d %v", r.Status, r.Header)
	}
	// A request without Origin is no browser's CORS request: the answer goes
	// without the header, which nothing would read.
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
	r = api.Do(t, http.MethodGet, n.URL+nodetest.PresencePath(alice), aliceToken, nil)
	if _, ok := r.Header["Access-Control-Allow-Origin"]; r.Status != http.StatusOK || ok {
		t.Fatalf("GET without Origin: %d %v", r.Status, r.Header)
	}
}

// TestEveryResponseIsJSON sends one request of every kind the node answers,
// as a browser would (with Origin) and as a homeserver would (without), and
// checks that each answer is application/json and parses as a JSON object
// (the OpenAPI check adds the CORS and cache headers).
func TestEveryResponseIsJSON(t *testing.T) {
	n := nodetest.StartNode(t)
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
	p := n.URL + nodetest.PresencePath(alice)
	for _, c := range []struct {
		method, url, token string
		body               []byte
	}{
		{"GET", p, aliceToken, nil},
		{"PUT", p, aliceToken, []byte(`{"presence":"online"}`)},
		{"GET", p, "", nil},
		{"GET", p, "bad", nil},
		{"PUT", p, bobToken, []byte(`{"presence":"online"}`)},
		{"PUT", p, aliceToken, []byte(`x`)},
		{"PUT", p, aliceToken, []byte(`{"presence":"online","pad":"` + strings.Repeat("x", 70_000) + `"}`)},
		{"GET", n.URL + nodetest.PresencePath(carol), aliceToken, nil},
		{"GET", n.URL + "/nothing", "", nil},
		{"DELETE", p, aliceToken, nil},
		{"OPTIONS", p, "", nil},
		{"GET", n.URL + "/healthz", "", nil},
		{"GET", n.URL + "/readyz", "", nil},
	} {
		for _, origin := range []string{"", "https://app.example.org"} {
			req := nodetest.NewRequest(t, c.method, c.url, c.token, c.body)
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			r := api.Send(t, req, c.body)
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s %s (Origin %q): Content-Type %q", c.method, c.url, origin, ct)
			}
			if r.JSON == nil {
				t.Errorf("%s %s (Origin %q): body %q is not a JSON object", c.method, c.url, origin, r.Body)
			}
		}
	}
}

// TestReadYourWrites: a GET right after a PUT on the same node sees that
// PUT, every time.
func TestReadYourWrites(t *testing.T) {
	n := nodetest.StartNode(t)
	states := []string{"online", "unavailable", "offline"}
	for i := range 30 {
		want := states[i%3]
		msg := fmt.Sprintf("write %d", i)
		mustPut(t, n, aliceToken, alice, map[string]any{"presence": want, "status_msg": msg})
		got := mustGet(t, n, aliceToken, alice)
		if got["presence"] != want || got["status_msg"] != msg {
			t.Fatalf("write %d: GET %v, want %s %q", i, got, want, msg)
		}
	}
}

// TestLastActiveAgoGrows: on the real clock, last_active_ago grows from the
// PUT and never goes backwards; a new PUT (any state) resets it.
func TestLastActiveAgoGrows(t *testing.T) {
	t.Parallel()
	n := nodetest.StartNode(t)
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "unavailable"})
	first := lastActiveAgo(t, mustGet(t, n, bobToken, alice))
	prev := first
	nodetest.Eventually(t, 10*time.Second, func() error {
		ago := lastActiveAgo(t, mustGet(t, n, bobToken, alice))
		if ago < prev {
			t.Fatalf("last_active_ago went backwards: %d after %d", ago, prev)
		}
		prev = ago
		if ago < first+250 {
			return fmt.Errorf("last_active_ago %d, want at least %d", ago, first+250)
		}
		return nil
	})
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "unavailable"})
	if ago := lastActiveAgo(t, mustGet(t, n, bobToken, alice)); ago >= prev {
		t.Fatalf("a new PUT did not reset last_active_ago: %d, was %d", ago, prev)
	}
}
