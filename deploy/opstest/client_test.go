//go:build ops

package opstest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

// answer is an HTTP response read in full.
type answer struct {
	status int
	header http.Header
	body   string
}

// call sends one request; header holds extra headers ("Authorization" is
// set from token when token is not empty).
func call(t *testing.T, method, url, token, body string, header map[string]string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// want fails the test unless a has the given status.
func (a answer) want(t *testing.T, status int, what string) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: answered %d, want %d: %s", what, a.status, status, a.body)
	}
	return a
}

// presencePath is the v3 presence path of user, escaped as clients do.
func presencePath(version, user string) string {
	return "/_matrix/client/" + version + "/presence/" + strings.NewReplacer("@", "%40", ":", "%3A").Replace(user) + "/status"
}

func user(i int) string { return fmt.Sprintf("@user%d:%s", i, serverName) }

// staticTokens are the tokens of the nodes with --auth static: token-<i>
// for user i.
func staticTokens(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("token-%d", i)] = user(i)
	}
	return m
}

// driveStaticLoad sends a little of everything to a node with static
// tokens (see staticTokens): PUTs in every state, GETs, and one of each
// refused request the metrics count.
func driveStaticLoad(t *testing.T, base string, users int) {
	t.Helper()
	states := []string{"online", "unavailable", "offline"}
	for i := range users {
		body := fmt.Sprintf(`{"presence":%q,"status_msg":"load %d"}`, states[i%3], i)
		call(t, "PUT", base+presencePath("v3", user(i)), fmt.Sprintf("token-%d", i), body, nil).want(t, 200, "PUT")
	}
	for i := range users {
		call(t, "GET", base+presencePath("v3", user((i+1)%users)), fmt.Sprintf("token-%d", i), "", nil).want(t, 200, "GET")
	}
	tok := "token-0"
	call(t, "GET", base+presencePath("r0", user(0))+"?consistent=true", tok, "", nil).want(t, 200, "consistent GET")
	// A user of another server of whom nothing was received: 404 (a local one reads offline).
	call(t, "GET", base+presencePath("v3", "@nobody:elsewhere.test"), tok, "", nil).want(t, 404, "GET of a remote user without state")
	call(t, "PUT", base+presencePath("v3", user(0)), tok, `{"presence":`, nil).want(t, 400, "PUT of bad JSON")
	call(t, "PUT", base+presencePath("v3", user(1)), tok, `{"presence":"online"}`, nil).want(t, 403, "PUT for another user")
	call(t, "POST", base+presencePath("v3", user(0)), tok, `{}`, nil).want(t, 405, "POST")
	call(t, "GET", base+"/_matrix/client/v3/nothing-here", tok, "", nil).want(t, 404, "unknown path")
	call(t, "GET", base+presencePath("v3", user(0)), tok, "", map[string]string{"X-Padding": strings.Repeat("x", 20000)}).
		want(t, 413, "headers over --max-header-bytes")
	// Past the per-user PUT burst: 429 (reason put_rate).
	limited := false
	for range 10 {
		if call(t, "PUT", base+presencePath("v3", user(2)), "token-2", `{"presence":"online"}`, nil).status == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("10 PUTs in a row by one user were never answered 429")
	}
	// Unknown tokens past the per-address burst: 401s, then 429 (reason auth_failures).
	limited = false
	for range 30 {
		a := call(t, "GET", base+presencePath("v3", user(0)), "no-such-token", "", nil)
		if a.status == 429 {
			limited = true
			break
		}
		a.want(t, 401, "GET with an unknown token")
	}
	if !limited {
		t.Fatal("30 unknown tokens from one address were never answered 429")
	}
}

// driveHomeserverLoad sends requests to a node with --auth homeserver
// against a standIn: accepted tokens (a miss, then cache hits), a refused
// one (a miss, then a negative hit) and one whose check fails (503).
func driveHomeserverLoad(t *testing.T, base string) {
	t.Helper()
	for round := range 3 {
		for i := range 3 {
			tok := fmt.Sprintf("hs-user%d", i)
			body := fmt.Sprintf(`{"presence":"online","status_msg":"round %d"}`, round)
			call(t, "PUT", base+presencePath("v3", user(i)), tok, body, nil).want(t, 200, "PUT with a homeserver token")
			call(t, "GET", base+presencePath("v3", user((i+1)%3)), tok, "", nil)
		}
		call(t, "GET", base+presencePath("v3", user(0)), "hs-refused", "", nil).want(t, 401, "GET with a refused token")
	}
	call(t, "GET", base+presencePath("v3", user(0)), "hs-broken", "", nil).want(t, 503, "GET while whoami fails")
}
