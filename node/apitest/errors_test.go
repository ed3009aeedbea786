package apitest

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/httpapi"
	"github.com/presenced/presenced/node/nodetest"
)

// TestAuthErrors: no token is 401 M_MISSING_TOKEN, an unknown one 401
// M_UNKNOWN_TOKEN, on both methods and whether the token comes in the header
// or the access_token query parameter; a known token works in either place.
func TestAuthErrors(t *testing.T) {
	n := nodetest.StartNode(t)
	path := n.URL + nodetest.PresencePath(alice)
	body := []byte(`{"presence":"online"}`)

	wantError(t, api.Do(t, http.MethodGet, path, "", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
	wantError(t, api.Do(t, http.MethodPut, path, "", body), http.StatusUnauthorized, "M_MISSING_TOKEN")
	wantError(t, api.Do(t, http.MethodGet, path, "no-such-token", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	wantError(t, api.Do(t, http.MethodPut, path, "no-such-token", body), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	wantError(t, api.Do(t, http.MethodGet, path+"?access_token=no-such-token", "", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	wantError(t, api.Do(t, http.MethodPut, path+"?access_token=", "", body), http.StatusUnauthorized, "M_MISSING_TOKEN")

	// Authentication comes before anything else: an unknown token on an
	// invalid user ID is still a 401.
	wantError(t, api.Do(t, http.MethodGet, n.URL+"/_matrix/client/v3/presence/nope/status", "no-such-token", nil),
		http.StatusUnauthorized, "M_UNKNOWN_TOKEN")

	// A scheme other than Bearer is no token.
	req, _ := http.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Basic YWxpY2U6c2VjcmV0")
	wantError(t, api.Send(t, req, nil), http.StatusUnauthorized, "M_MISSING_TOKEN")

	// The access_token query parameter works for PUT and GET.
	if r := api.Do(t, http.MethodPut, path+"?access_token="+aliceToken, "", []byte(`{"presence":"online","status_msg":"via query"}`)); r.Status != http.StatusOK {
		t.Fatalf("PUT with access_token: %d %s", r.Status, r.Body)
	}
	r := api.Do(t, http.MethodGet, path+"?access_token="+bobToken, "", nil)
	if r.Status != http.StatusOK || r.JSON["status_msg"] != "via query" {
		t.Fatalf("GET with access_token: %d %s", r.Status, r.Body)
	}
	// Nothing that failed authentication was stored.
	if got := mustGet(t, n, bobToken, alice)["status_msg"]; got != "via query" {
		t.Fatalf("status_msg %v after rejected PUTs", got)
	}
}

// TestPutOtherUserForbidden: a user cannot set another user's presence, and
// the attempt stores nothing.
func TestPutOtherUserForbidden(t *testing.T) {
	n := nodetest.StartNode(t)
	wantError(t, put(t, n, aliceToken, bob, map[string]any{"presence": "online"}), http.StatusForbidden, "M_FORBIDDEN")
	wantNoState(t, get(t, n, aliceToken, bob))
	// Users of another server cannot be set either, not even by the node's users.
	wantError(t, put(t, n, aliceToken, "@alice:elsewhere.test", map[string]any{"presence": "online"}), http.StatusForbidden, "M_FORBIDDEN")
}

// TestInvalidUserIDs: a user ID outside the Matrix grammar is 400
// M_INVALID_PARAM on GET and PUT.
func TestInvalidUserIDs(t *testing.T) {
	n := nodetest.StartNode(t)
	long := "@" + strings.Repeat("a", 256-len(":example.org")-1) + ":example.org" // 256 bytes
	for _, id := range []string{
		"nope",
		"alice:example.org",
		"@alice",
		"@:example.org",
		"@alice:",
		"@al ice:example.org",
		"@alice:exa_mple.org",
		"@alice:example.org:port",
		"@alice:[::1",
		"@älice:example.org",
		long,
	} {
		t.Run(id[:min(len(id), 24)], func(t *testing.T) {
			wantError(t, get(t, n, aliceToken, id), http.StatusBadRequest, "M_INVALID_PARAM")
			wantError(t, put(t, n, aliceToken, id, map[string]any{"presence": "online"}), http.StatusBadRequest, "M_INVALID_PARAM")
		})
	}
	// The longest valid ID (255 bytes) is accepted: no state yet.
	wantNoState(t, get(t, n, aliceToken, long[:1]+long[2:]))
}

// TestPutBodyErrors: every way a PUT body can be wrong, with its errcode;
// none of them changes the stored state.
func TestPutBodyErrors(t *testing.T) {
	n := nodetest.StartNode(t)
	mustPut(t, n, aliceToken, alice, map[string]any{"presence": "unavailable", "status_msg": "before"})
	cases := []struct {
		name, body, errcode string
	}{
		{"empty", ``, "M_NOT_JSON"},
		{"not JSON", `presence=online`, "M_NOT_JSON"},
		{"truncated", `{"presence":"online"`, "M_NOT_JSON"},
		{"trailing garbage", `{"presence":"online"} x`, "M_NOT_JSON"},
		{"two values", `{"presence":"online"}{}`, "M_NOT_JSON"},
		{"invalid UTF-8", "{\"presence\":\"online\",\"status_msg\":\"\xff\"}", "M_NOT_JSON"},
		{"array", `[{"presence":"online"}]`, "M_BAD_JSON"},
		{"string", `"online"`, "M_BAD_JSON"},
		{"null", `null`, "M_BAD_JSON"},
		{"number", `42`, "M_BAD_JSON"},
		{"presence number", `{"presence":5}`, "M_BAD_JSON"},
		{"presence null", `{"presence":null}`, "M_BAD_JSON"},
		{"presence object", `{"presence":{"state":"online"}}`, "M_BAD_JSON"},
		{"status_msg number", `{"presence":"online","status_msg":5}`, "M_BAD_JSON"},
		{"status_msg bool", `{"presence":"online","status_msg":true}`, "M_BAD_JSON"},
		{"status_msg array", `{"presence":"online","status_msg":["a"]}`, "M_BAD_JSON"},
		{"duplicate key", `{"presence":"online","presence":"offline"}`, "M_BAD_JSON"},
		{"missing presence", `{}`, "M_MISSING_PARAM"},
		{"only status_msg", `{"status_msg":"x"}`, "M_MISSING_PARAM"},
		{"unknown presence", `{"presence":"busy"}`, "M_INVALID_PARAM"},
		{"presence case", `{"presence":"Online"}`, "M_INVALID_PARAM"},
		{"presence empty", `{"presence":""}`, "M_INVALID_PARAM"},
		{"status_msg over cap", `{"presence":"online","status_msg":"` + strings.Repeat("x", 2049) + `"}`, "M_INVALID_PARAM"},
		{"status_msg over cap in bytes", `{"presence":"online","status_msg":"` + strings.Repeat("€", 683) + `"}`, "M_INVALID_PARAM"},
		{"status_msg with NUL", `{"presence":"online","status_msg":"a\u0000b"}`, "M_INVALID_PARAM"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, putRaw(t, n, aliceToken, alice, []byte(c.body)), http.StatusBadRequest, c.errcode)
		})
	}
	got := mustGet(t, n, bobToken, alice)
	if got["presence"] != "unavailable" || got["status_msg"] != "before" {
		t.Fatalf("state changed by rejected PUTs: %v", got)
	}
	// The caps are inclusive: exactly 2048 bytes of status_msg is accepted,
	// in ASCII and in multi-byte UTF-8.
	for _, msg := range []string{strings.Repeat("x", 2048), strings.Repeat("€", 682) + "xx"} {
		mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online", "status_msg": msg})
		if got := mustGet(t, n, bobToken, alice)["status_msg"]; got != msg {
			t.Fatalf("status_msg of %d bytes read back as %v", len(msg), got)
		}
	}
}

// TestPutBodyTooLarge: a body over the cap (64 KiB by default) is 413
// M_TOO_LARGE, whether it announces its length or is chunked; a body of
// exactly the cap, padded with an ignored key, is accepted.
func TestPutBodyTooLarge(t *testing.T) {
	n := nodetest.StartNode(t)
	const limit = 64 << 10
	padded := func(size int) []byte {
		head := []byte(`{"presence":"online","pad":"`)
		tail := []byte(`"}`)
		return append(append(head, bytes.Repeat([]byte("p"), size-len(head)-len(tail))...), tail...)
	}
	wantError(t, putRaw(t, n, aliceToken, alice, padded(limit+1)), http.StatusRequestEntityTooLarge, "M_TOO_LARGE")
	wantError(t, putRaw(t, n, aliceToken, alice, padded(4*limit)), http.StatusRequestEntityTooLarge, "M_TOO_LARGE")

	// Chunked: no Content-Length, so the cap is enforced while reading.
	body := padded(limit + 1)
	req, _ := http.NewRequest(http.MethodPut, n.URL+nodetest.PresencePath(alice), struct{ *bytes.Reader }{bytes.NewReader(body)})
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	req.Header.Set("Content-Type", "application/json")
	wantError(t, api.Send(t, req, body), http.StatusRequestEntityTooLarge, "M_TOO_LARGE")
	wantNoState(t, get(t, n, aliceToken, alice))

	if r := putRaw(t, n, aliceToken, alice, padded(limit)); r.Status != http.StatusOK {
		t.Fatalf("PUT of exactly %d bytes: %d %s", limit, r.Status, r.Body)
	}
}

// TestUnknownUserNotFound: a user of this server without any event reads
// 200 {"presence":"offline"} (Synapse's answer, which the homeserver test
// suites expect); a user of another server without any state received is
// 404 M_NOT_FOUND. --unknown-local-user not-found gives the
// specification's 404 for local users too.
func TestUnknownUserNotFound(t *testing.T) {
	n := nodetest.StartNode(t)
	wantNoState(t, get(t, n, aliceToken, carol))
	wantNoState(t, get(t, n, aliceToken, alice))
	wantError(t, get(t, n, aliceToken, "@nobody:elsewhere.test"), http.StatusNotFound, "M_NOT_FOUND")

	strict := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) { c.HTTP.UnknownLocalUser = httpapi.UnknownLocalUserNotFound }))
	wantError(t, get(t, strict, aliceToken, carol), http.StatusNotFound, "M_NOT_FOUND")
	wantError(t, get(t, strict, aliceToken, alice), http.StatusNotFound, "M_NOT_FOUND")
	wantError(t, get(t, strict, aliceToken, "@nobody:elsewhere.test"), http.StatusNotFound, "M_NOT_FOUND")
}

// TestUnrecognizedPathsAndMethods: unknown paths are 404 M_UNRECOGNIZED, a
// wrong method on a known path 405 M_UNRECOGNIZED, both JSON.
func TestUnrecognizedPathsAndMethods(t *testing.T) {
	n := nodetest.StartNode(t)
	for _, p := range []string{
		"/",
		"/_matrix/client/v3/presence",
		"/_matrix/client/v3/presence/" + alice,
		"/_matrix/client/v3/presence/" + alice + "/status/extra",
		"/_matrix/client/v4/presence/%40alice%3Aexample.org/status",
		"/_matrix/client/v1/presence/%40alice%3Aexample.org/status",
		"/_matrix/client/v3/presence/@we/ird.user:example.org/status", // an unencoded '/' splits the ID
		"/_matrix/client/v3/sync",
	} {
		wantError(t, api.Do(t, http.MethodGet, n.URL+p, aliceToken, nil), http.StatusNotFound, "M_UNRECOGNIZED")
	}
	for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodPatch} {
		wantError(t, api.Do(t, m, n.URL+nodetest.PresencePath(alice), aliceToken, []byte(`{"presence":"online"}`)),
			http.StatusMethodNotAllowed, "M_UNRECOGNIZED")
		wantError(t, api.Do(t, m, n.URL+"/_matrix/client/r0/presence/%40alice%3Aexample.org/status", aliceToken, nil),
			http.StatusMethodNotAllowed, "M_UNRECOGNIZED")
	}
	r := api.Do(t, http.MethodDelete, n.URL+nodetest.PresencePath(weird), aliceToken, nil)
	wantError(t, r, http.StatusMethodNotAllowed, "M_UNRECOGNIZED")
	if got := r.Header.Get("Allow"); got != "GET, PUT, OPTIONS" {
		t.Errorf("Allow on the presence path: %q", got)
	}
	r = api.Do(t, http.MethodPost, n.URL+"/healthz", "", nil)
	wantError(t, r, http.StatusMethodNotAllowed, "M_UNRECOGNIZED")
	if got := r.Header.Get("Allow"); got != "GET, HEAD, OPTIONS" {
		t.Errorf("Allow on /healthz: %q", got)
	}
	wantError(t, api.Do(t, http.MethodPut, n.URL+"/readyz", "", nil), http.StatusMethodNotAllowed, "M_UNRECOGNIZED")
}
