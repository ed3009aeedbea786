package apitest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/presenced/presenced/node/nodetest"
)

// The users and tokens of the black-box suite (see nodetest.Tokens).
const (
	alice      = "@alice:example.org"
	aliceToken = "alice-token"
	bob        = "@bob:example.org"
	bobToken   = "bob-token"
	carol      = "@carol:example.org"
	carolToken = "carol-token"
	weird      = "@we/ird.user:example.org" // a localpart with '/' and '.'
	weirdToken = "slash-token"
)

// put sets userID's presence on n through the OpenAPI-checked client.
func put(t testing.TB, n *nodetest.Node, token, userID string, body any) *nodetest.Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return api.Do(t, http.MethodPut, n.URL+nodetest.PresencePath(userID), token, b)
}

// putRaw sends body as it is.
func putRaw(t testing.TB, n *nodetest.Node, token, userID string, body []byte) *nodetest.Response {
	t.Helper()
	return api.Do(t, http.MethodPut, n.URL+nodetest.PresencePath(userID), token, body)
}

// get reads userID's presence on n through the OpenAPI-checked client.
func get(t testing.TB, n *nodetest.Node, token, userID string) *nodetest.Response {
	t.Helper()
	return api.Do(t, http.MethodGet, n.URL+nodetest.PresencePath(userID), token, nil)
}

// mustPut sets userID's presence and fails the test unless it is stored.
func mustPut(t testing.TB, n *nodetest.Node, token, userID string, body any) {
	t.Helper()
	if r := put(t, n, token, userID, body); r.Status != http.StatusOK || string(r.Body) != "{}" {
		t.Fatalf("PUT %s: %d %s", userID, r.Status, r.Body)
	}
}

// mustGet reads userID's presence and fails the test unless it is 200.
func mustGet(t testing.TB, n *nodetest.Node, token, userID string) map[string]any {
	t.Helper()
	r := get(t, n, token, userID)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", userID, r.Status, r.Body)
	}
	return r.JSON
}

// wantError fails the test unless r is a Matrix error with status and errcode.
func wantError(t testing.TB, r *nodetest.Response, status int, errcode string) {
	t.Helper()
	if r.Status != status || r.Errcode() != errcode {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, errcode)
	}
	if msg, _ := r.JSON["error"].(string); msg == "" {
		t.Fatalf("error body %s has no human-readable error", r.Body)
	}
}

// wantNoState fails the test unless r is the answer for a user of this
// server with no presence state: 200 {"presence":"offline"}, with no
// last_active_ago (as Synapse answers, and --unknown-local-user offline).
func wantNoState(t testing.TB, r *nodetest.Response) {
	t.Helper()
	if r.Status != http.StatusOK || string(r.Body) != `{"presence":"offline"}` {
		t.Fatalf("got %d %s, want 200 {\"presence\":\"offline\"}", r.Status, r.Body)
	}
}

// lastActiveAgo is the last_active_ago of a GET body, in milliseconds.
func lastActiveAgo(t testing.TB, body map[string]any) int64 {
	t.Helper()
	v, ok := body["last_active_ago"].(float64)
	if !ok {
		t.Fatalf("no last_active_ago in %v", body)
	}
	return int64(v)
}
