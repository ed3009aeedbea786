package node_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced/node/nodetest"
)

// put sends body as alice's PUT over a raw connection, so that the bytes
// reach the node exactly as written.
func rawPut(t *testing.T, n *nodetest.Node, path string, body []byte) *rawResponse {
	t.Helper()
	return rawRequest(t, n, fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", path, len(body), body))
}

func rawGet(t *testing.T, n *nodetest.Node, path string) *rawResponse {
	t.Helper()
	return rawRequest(t, n, "GET "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nConnection: close\r\n\r\n")
}

// TestHostileBodies sends PUT bodies an attacker or a broken client might
// send. Each gets its Matrix error, nothing is stored, and the node stays
// healthy.
func TestHostileBodies(t *testing.T) {
	n := nodetest.StartNode(t)
	alice := nodetest.PresencePath("@alice:example.org")
	deep := func(depth int) []byte {
		return []byte(`{"presence":"online","x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
	}
	cases := []struct {
		name    string
		body    []byte
		status  int
		errcode string
	}{
		{"invalid UTF-8 in a string", []byte("{\"presence\":\"online\",\"status_msg\":\"\xff\xfe\"}"), 400, "M_NOT_JSON"},
		{"invalid UTF-8 overlong encoding", []byte("{\"presence\":\"online\",\"status_msg\":\"\xc0\xaf\"}"), 400, "M_NOT_JSON"},
		{"lone surrogate escape is replaced, not stored raw", nil, 0, ""},
		{"duplicate presence key", []byte(`{"presence":"online","presence":"offline"}`), 400, "M_BAD_JSON"},
		{"duplicate status_msg key", []byte(`{"presence":"online","status_msg":"a","status_msg":"b"}`), 400, "M_BAD_JSON"},
		{"NUL escape in status_msg", []byte(`{"presence":"online","status_msg":"a\u0000b"}`), 400, "M_INVALID_PARAM"},
		{"raw NUL byte in the body", []byte("{\"presence\":\"online\"}\x00"), 400, "M_NOT_JSON"},
		{"raw NUL byte in a string", []byte("{\"presence\":\"online\",\"status_msg\":\"a\x00b\"}"), 400, "M_NOT_JSON"},
		{"nesting beyond the JSON decoder's depth limit", deep(20000), 400, "M_NOT_JSON"},
		{"not an object", []byte(`[{"presence":"online"}]`), 400, "M_BAD_JSON"},
		{"trailing garbage", []byte(`{"presence":"online"}{}`), 400, "M_NOT_JSON"},
		{"presence not a string", []byte(`{"presence":{"a":1}}`), 400, "M_BAD_JSON"},
		{"huge number", []byte(`{"presence":"online","x":1` + strings.Repeat("0", 30000) + `}`), 200, ""},
		{"status_msg over the cap", []byte(`{"presence":"online","status_msg":"` + strings.Repeat("a", 3000) + `"}`), 400, "M_INVALID_PARAM"},
		{"body over the cap", []byte(`{"presence":"online","x":"` + strings.Repeat("a", 70<<10) + `"}`), 413, "M_TOO_LARGE"},
		{"empty body", []byte{}, 400, "M_NOT_JSON"},
	}
	for _, c := range cases {
		if c.body == nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			r := rawPut(t, n, alice, c.body)
			if c.status == 200 {
				if r.Status != 200 {
					t.Fatalf("got %d %s", r.Status, r.Body)
				}
				return
			}
			wantMatrixError(t, c.name, r.Status, r.Header, r.Body, c.status, c.errcode)
		})
	}
	// Nesting within the decoder's limit is parsed and ignored: it is an
	// unknown key. It costs bounded work because the body is capped.
	if r := rawPut(t, n, alice, deep(5000)); r.Status != 200 {
		t.Fatalf("deep but valid: %d %s", r.Status, r.Body)
	}
	// A lone surrogate escape is valid JSON; it is stored as U+FFFD and read
	// back as valid UTF-8.
	if r := rawPut(t, n, alice, []byte(`{"presence":"online","status_msg":"a\ud800b"}`)); r.Status != 200 {
		t.Fatalf("lone surrogate: %d %s", r.Status, r.Body)
	}
	g := n.Get(t, "bob-token", "@alice:example.org")
	if g.JSON["status_msg"] != "a\ufffdb" {
		t.Fatalf("lone surrogate read back as %q", g.JSON["status_msg"])
	}
	wantHealthy(t, n)
}

// TestHostileBodyChunked sends an oversized body without Content-Length:
// the cap applies while reading.
func TestHostileBodyChunked(t *testing.T) {
	n := nodetest.StartNode(t)
	chunk := strings.Repeat("a", 8<<10)
	var b strings.Builder
	b.WriteString("PUT " + nodetest.PresencePath("@alice:example.org") + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
	for range 20 {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	b.WriteString("0\r\n\r\n")
	r := rawRequest(t, n, b.String())
	wantMatrixError(t, "chunked body over the cap", r.Status, r.Header, r.Body, 413, "M_TOO_LARGE")
	wantHealthy(t, n)
}

// TestHostileUserIDs sends user IDs that are overlong, hold NUL bytes,
// invalid UTF-8 or control characters.
func TestHostileUserIDs(t *testing.T) {
	n := nodetest.StartNode(t)
	cases := map[string]string{
		"overlong (256 bytes)": "@" + strings.Repeat("a", 243) + ":example.org",
		"overlong (8 KiB)":     "@" + strings.Repeat("a", 8<<10) + ":example.org",
		"NUL byte":             "@al%00ice:example.org",
		"invalid UTF-8":        "@%ff%fe:example.org",
		"UTF-8 outside ASCII":  "@%C3%A9:example.org",
		"newline":              "@a%0Ab:example.org",
		"no sigil":             "alice:example.org",
		"no server name":       "@alice",
		"bad server name":      "@alice:exa%20mple.org",
	}
	for name, id := range cases {
		t.Run(name, func(t *testing.T) {
			path := "/_matrix/client/v3/presence/" + id + "/status"
			r := rawGet(t, n, path)
			wantMatrixError(t, "GET "+name, r.Status, r.Header, r.Body, 400, "M_INVALID_PARAM")
			r = rawPut(t, n, path, []byte(`{"presence":"online"}`))
			if r.Status != 400 && r.Status != 403 {
				t.Fatalf("PUT %s: %d %s", name, r.Status, r.Body)
			}
			wantMatrixError(t, "PUT "+name, r.Status, r.Header, r.Body, r.Status, r.errcode())
		})
	}
	// A request line that is not valid HTTP (here, a broken
	// percent-encoding) is refused by the HTTP layer before any handler
	// runs: a plain 400 and the connection closed.
	for _, id := range []string{"@alice%zz:example.org", "@alice:example.org%"} {
		r := rawGet(t, n, "/_matrix/client/v3/presence/"+id+"/status")
		if r.Status != 400 {
			t.Fatalf("%s: %d %s", id, r.Status, r.Body)
		}
	}
	wantHealthy(t, n)
}

// TestPathTraversal tries to reach other routes or other users through dot
// segments, encoded dots and slashes, and doubled slashes. The router
// matches the path as sent (no cleaning, no redirects), so each attempt is
// either not a route (404 M_UNRECOGNIZED) or an invalid user ID (400).
func TestPathTraversal(t *testing.T) {
	n := nodetest.StartNode(t)
	if r := n.Put(t, "bob-token", "@bob:example.org", map[string]any{"presence": "online"}); r.Status != 200 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	cases := map[string]int{
		"/_matrix/client/v3/presence/../../../../healthz":                              404,
		"/_matrix/client/v3/presence/@alice:example.org/../@bob:example.org/status":    404,
		"/_matrix/client/v3/presence/%2e%2e/status":                                    400,
		"/_matrix/client/v3/presence/%2E%2E%2F%2E%2E%2Fhealthz/status":                 400,
		"/_matrix/client/v3/presence/..%2F@bob:example.org/status":                     400,
		"/_matrix/client/v3/presence/@bob:example.org%2F..%2F..%2Fmetrics/status":      400,
		"//_matrix/client/v3/presence/@bob:example.org/status":                         404,
		"/_matrix//client/v3/presence/@bob:example.org/status":                         404,
		"/_matrix/client/v3/presence//@bob:example.org/status":                         404,
		"/_matrix/client/v3/presence/@bob:example.org//status":                         404,
		"/_matrix/client/v3/presence/./@bob:example.org/status":                        404,
		"/_matrix/client/v3/presence/%40bob%3Aexample.org%2Fstatus%3Fx%3D/status":      400,
		"/_matrix/client/v3/presence/@bob:example.org/status/..":                       404,
		"/_matrix/client/v3/presence/@bob:example.org/status%2F..%2F..%2F..%2Fhealthz": 404,
		"/%5Fmatrix/client/v3/presence/@bob:example.org/status":                        404,
	}
	for path, status := range cases {
		r := rawGet(t, n, path)
		errcode := map[int]string{404: "M_UNRECOGNIZED", 400: "M_INVALID_PARAM"}[status]
		wantMatrixError(t, path, r.Status, r.Header, r.Body, status, errcode)
	}
	// Encoded slashes in a localpart stay one path segment: a real user.
	if r := rawGet(t, n, nodetest.PresencePath("@we/ird.user:example.org")); r.Status != 200 || string(r.Body) != `{"presence":"offline"}` {
		t.Fatalf("encoded slash: %d %s", r.Status, r.Body)
	}
	wantHealthy(t, n)
}

// TestHostileHeaders sends request lines and headers beyond the cap, and
// odd authorization headers.
func TestHostileHeaders(t *testing.T) {
	n := nodetest.StartNode(t)
	path := nodetest.PresencePath("@alice:example.org")

	// Past --max-header-bytes but within the HTTP layer's backstop: a Matrix error.
	big := strings.Repeat("a", n.Config.HTTP.MaxHeaderBytes)
	r := rawRequest(t, n, "GET "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nX-Big: "+big+"\r\nConnection: close\r\n\r\n")
	wantMatrixError(t, "header over the cap", r.Status, r.Header, r.Body, 413, "M_TOO_LARGE")
	r = rawRequest(t, n, "GET "+path+"?x="+big+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nConnection: close\r\n\r\n")
	wantMatrixError(t, "request line over the cap", r.Status, r.Header, r.Body, 413, "M_TOO_LARGE")
	var many strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&many, "X-H%d: v\r\n", i)
	}
	r = rawRequest(t, n, "GET "+path+" HTTP/1.1\r\nHost: x\r\n"+many.String()+"Connection: close\r\n\r\n")
	wantMatrixError(t, "many headers", r.Status, r.Header, r.Body, 413, "M_TOO_LARGE")

	// Far past it, the HTTP layer refuses before any handler runs (431).
	huge := strings.Repeat("a", 4*n.Config.HTTP.MaxHeaderBytes)
	r = rawRequest(t, n, "GET "+path+" HTTP/1.1\r\nHost: x\r\nX-Big: "+huge+"\r\n\r\n")
	if r.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("header far over the cap: %d %s", r.Status, r.Body)
	}

	auths := map[string]string{
		"Bearer with NUL":         "Bearer alice-token\x00",
		"Bearer of 5000 bytes":    "Bearer " + strings.Repeat("t", 5000),
		"Basic":                   "Basic YWxpY2U6cHc=",
		"Bearer and nothing":      "Bearer ",
		"Bearer with UTF-8 junk":  "Bearer \xff\xfe",
		"two tokens":              "Bearer alice-token bob-token",
		"lowercase bearer, valid": "bearer alice-token",
	}
	for name, h := range auths {
		r := rawRequest(t, n, "GET "+path+" HTTP/1.1\r\nHost: x\r\nAuthorization: "+h+"\r\nConnection: close\r\n\r\n")
		switch {
		case name == "lowercase bearer, valid":
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", name, r.Status, r.Body)
			}
		case r.Status == 400 && bytes.Contains(r.Body, []byte("Bad Request")) && r.JSON == nil:
			// The HTTP layer refuses a header value with a NUL or control
			// byte before any handler runs.
		default:
			if r.Status != 401 || (r.errcode() != "M_UNKNOWN_TOKEN" && r.errcode() != "M_MISSING_TOKEN") {
				t.Fatalf("%s: %d %s", name, r.Status, r.Body)
			}
		}
	}
	wantHealthy(t, n)
}
