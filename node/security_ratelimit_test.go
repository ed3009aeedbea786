package node_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// wantLimited checks a 429 M_LIMIT_EXCEEDED with retry_after_ms and a
// matching Retry-After.
func wantLimited(t *testing.T, what string, r *nodetest.Response) {
	t.Helper()
	wantMatrixError(t, what, r.Status, r.Header, r.Body, http.StatusTooManyRequests, "M_LIMIT_EXCEEDED")
	ms, ok := r.JSON["retry_after_ms"].(float64)
	if !ok || ms <= 0 {
		t.Fatalf("%s: retry_after_ms missing or not positive: %s", what, r.Body)
	}
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || float64(secs)*1000 < ms {
		t.Fatalf("%s: Retry-After %q does not cover retry_after_ms %v", what, r.Header.Get("Retry-After"), ms)
	}
}

// TestPutRateLimit: a user gets their burst of PUTs, then 429; another
// user is unaffected; GETs are not limited.
func TestPutRateLimit(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.RateLimitPerSecond = 0.05 // one token per 20 s: none comes back during the test
		c.HTTP.RateLimitBurst = 3
	}))
	body := map[string]any{"presence": "online"}
	for i := range 3 {
		if r := n.Put(t, "alice-token", "@alice:example.org", body); r.Status != 200 {
			t.Fatalf("PUT %d within the burst: %d %s", i, r.Status, r.Body)
		}
	}
	r := n.Put(t, "alice-token", "@alice:example.org", body)
	wantLimited(t, "PUT past the burst", r)
	if ms := r.JSON["retry_after_ms"].(float64); ms > 20000 {
		t.Fatalf("retry_after_ms %v exceeds one token's refill time", ms)
	}
	if r := n.Put(t, "bob-token", "@bob:example.org", body); r.Status != 200 {
		t.Fatalf("another user's PUT: %d %s", r.Status, r.Body)
	}
	if c := counter(t, n.Registry, "presenced_rejected_requests_total", "reason", "put_rate"); c != 1 {
		t.Fatalf("presenced_rejected_requests_total{reason=put_rate} = %v, want 1", c)
	}
	for range 10 {
		if r := n.Get(t, "alice-token", "@alice:example.org"); r.Status != 200 {
			t.Fatalf("GET by a limited user: %d %s", r.Status, r.Body)
		}
	}
	// A refused PUT takes no token: bob still has two.
	for range 2 {
		if r := n.Put(t, "bob-token", "@bob:example.org", body); r.Status != 200 {
			t.Fatalf("bob's PUT: %d %s", r.Status, r.Body)
		}
	}
}

// TestPutRateLimitRefills: with a quick refill, a limited user may write
// again after retry_after_ms.
func TestPutRateLimitRefills(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.RateLimitPerSecond = 5
		c.HTTP.RateLimitBurst = 1
	}))
	body := map[string]any{"presence": "online"}
	var limited *nodetest.Response
	nodetest.Eventually(t, 10*time.Second, func() error {
		r := n.Put(t, "alice-token", "@alice:example.org", body)
		if r.Status == 429 {
			limited = r
			return nil
		}
		return errNotYet
	})
	time.Sleep(time.Duration(limited.JSON["retry_after_ms"].(float64)) * time.Millisecond)
	if r := n.Put(t, "alice-token", "@alice:example.org", body); r.Status != 200 {
		t.Fatalf("PUT after retry_after_ms: %d %s", r.Status, r.Body)
	}
}

// TestAuthFailureRateLimit: an address that fails authentication past its
// burst is refused with 429 until its bucket refills, except for tokens
// known good without a look-up; other addresses (as passed by the trusted
// proxy) are not limited.
func TestAuthFailureRateLimit(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.AuthFailuresPerSecond = 0.05
		c.HTTP.AuthFailuresBurst = 3
		c.HTTP.RealIPHeader = "X-Forwarded-For"
	}))
	path := n.URL + nodetest.PresencePath("@alice:example.org")
	do := func(ip, token string) *nodetest.Response {
		req, _ := http.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.1, "+ip)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return decode(t, resp)
	}
	for i := range 3 {
		tok := "wrong"
		if i == 1 {
			tok = "" // a missing token counts too
		}
		if r := do("203.0.113.7", tok); r.Status != 401 {
			t.Fatalf("failure %d: %d %s", i, r.Status, r.Body)
		}
	}
	wantLimited(t, "bad token past the burst", do("203.0.113.7", "wrong"))
	wantLimited(t, "missing token from a limited address", do("203.0.113.7", ""))
	if r := do("203.0.113.7", "alice-token"); r.Status != 200 {
		t.Fatalf("known good token from a limited address: %d %s", r.Status, r.Body)
	}
	if r := do("203.0.113.8", "wrong"); r.Status != 401 {
		t.Fatalf("another address: %d %s", r.Status, r.Body)
	}
	if r := do("203.0.113.8", "alice-token"); r.Status != 200 {
		t.Fatalf("another address, good token: %d %s", r.Status, r.Body)
	}
	// Successes take nothing from the bucket.
	for range 10 {
		if r := do("203.0.113.9", "alice-token"); r.Status != 200 {
			t.Fatalf("good token: %d %s", r.Status, r.Body)
		}
	}
	if r := do("203.0.113.9", "wrong"); r.Status != 401 {
		t.Fatalf("first failure after successes: %d %s", r.Status, r.Body)
	}
}

// TestAuthFailureRateLimitHomeserver: behind one proxy address under a
// token-guessing attack, a user whose token the cache holds is still
// served; a token that would need a homeserver look-up is refused with 429
// without one.
func TestAuthFailureRateLimitHomeserver(t *testing.T) {
	hs := newStandInHomeserver(t)
	hs.setUser("cached", "@alice:example.org")
	hs.setUser("uncached", "@bob:example.org")
	n := nodetest.StartNode(t, withHomeserverAuth(hs.URL, nil), nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.AuthFailuresPerSecond = 0.05
		c.HTTP.AuthFailuresBurst = 2
	}))
	if r := n.Get(t, "cached", "@alice:example.org"); r.Status != 200 {
		t.Fatalf("GET: %d %s", r.Status, r.Body)
	}
	for range 2 {
		if r := n.Get(t, "guess", "@alice:example.org"); r.Status != 401 {
			t.Fatalf("guess: %d %s", r.Status, r.Body)
		}
	}
	calls := hs.calls.Load()
	wantLimited(t, "guess past the burst", n.Get(t, "guess2", "@alice:example.org"))
	wantLimited(t, "token not in the cache", n.Get(t, "uncached", "@alice:example.org"))
	if r := n.Get(t, "cached", "@alice:example.org"); r.Status != 200 {
		t.Fatalf("cached token from the limited address: %d %s", r.Status, r.Body)
	}
	if c := hs.calls.Load(); c != calls {
		t.Fatalf("%d homeserver calls from a limited address", c-calls)
	}
}
