package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// fuzzMethods are the methods the fuzzer picks from (any byte selects one).
var fuzzMethods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "HEAD", "BREW"}

// fuzzTokens are the Authorization values it picks from.
var fuzzTokens = []string{"", "Bearer alice-token", "Bearer bob-token", "Bearer eve-token", "Bearer wrong", "Basic YQ==", "Bearer slash-token"}

// FuzzHTTP sends arbitrary requests through the real router of a real node
// over loopback HTTP. Whatever the request: an answer within 10 s, no 5xx
// other than 503, every answer but HEAD's is JSON, every error has an
// errcode and a message, and the node keeps serving. Seeds are in
// testdata/fuzz/FuzzHTTP. New inputs are minimised one HTTP request per
// step, so -fuzzminimizetime 5s keeps the fuzzer from pausing on them.
func FuzzHTTP(f *testing.F) {
	f.Add(uint8(0), "/_matrix/client/v3/presence/@alice:example.org/status", uint8(1), []byte(nil))
	f.Add(uint8(1), "/_matrix/client/v3/presence/@alice:example.org/status", uint8(1), []byte(`{"presence":"online","status_msg":"hi"}`))
	f.Add(uint8(1), "/_matrix/client/r0/presence/%40we%2Fird.user%3Aexample.org/status", uint8(6), []byte(`{"presence":"unavailable"}`))
	f.Add(uint8(0), "/_matrix/client/v3/presence/%2e%2e/status?access_token=alice-token", uint8(0), []byte(nil))
	f.Add(uint8(1), "/_matrix/client/v3/presence/@alice:example.org/status", uint8(1), []byte(`{"presence":"online","presence":"offline"}`))
	f.Add(uint8(4), "/healthz", uint8(0), []byte(nil))

	n := nodetest.StartNode(f)
	client := &http.Client{Timeout: 30 * time.Second}
	base, _ := url.Parse(n.URL)

	f.Fuzz(func(t *testing.T, m uint8, path string, tok uint8, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u, err := url.Parse(n.URL + path)
		if err != nil || u.Host != base.Host || u.User != nil {
			return // not a request a client can send to this node
		}
		for _, c := range []byte(u.RequestURI()) {
			if c <= ' ' || c >= 0x7f {
				// Not a valid HTTP request line: the HTTP layer refuses it
				// before the router (TestHostileUserIDs covers that).
				return
			}
		}
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
		if err != nil {
			return
		}
		if a := fuzzTokens[int(tok)%len(fuzzTokens)]; a != "" {
			req.Header.Set("Authorization", a)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %q: %v", method, path, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%s %q: answered after %s", method, path, d)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %q: reading the answer: %v", method, path, err)
		}
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s %q %q: %d %s", method, path, body, resp.StatusCode, b)
		}
		if method == http.MethodHead {
			return
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %q: Content-Type %q (%d %s)", method, path, ct, resp.StatusCode, b)
		}
		var j map[string]any
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatalf("%s %q: answer is not a JSON object: %d %q", method, path, resp.StatusCode, b)
		}
		if resp.StatusCode >= 400 {
			if e, _ := j["errcode"].(string); !strings.HasPrefix(e, "M_") {
				t.Fatalf("%s %q: error without errcode: %d %s", method, path, resp.StatusCode, b)
			}
			if e, _ := j["error"].(string); e == "" {
				t.Fatalf("%s %q: error without message: %d %s", method, path, resp.StatusCode, b)
			}
		}
		if resp.StatusCode == http.StatusOK && method == http.MethodGet && strings.Contains(path, "/presence/") {
			if _, ok := j["presence"].(string); !ok {
				t.Fatalf("GET %q: 200 without presence: %s", path, b)
			}
		}
		if !n.Ready() {
			t.Fatalf("node not ready after %s %q", method, path)
		}
	})
}
