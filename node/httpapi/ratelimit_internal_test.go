package httpapi

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestKeyedLimiterBounded feeds far more keys than the table holds: the
// table keeps its size, and recently used keys keep their buckets.
func TestKeyedLimiterBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	k := newKeyedLimiter(1, 2, 1000, func() time.Time { return now })
	for i := range 100_000 {
		k.allow(fmt.Sprintf("@u%d:example.org", i))
	}
	if k.len() != 1000 {
		t.Fatalf("%d buckets held, bound 1000", k.len())
	}
	k.allow("hot")
	k.allow("hot")
	if w := k.allow("hot"); w <= 0 || w > time.Second {
		t.Fatalf("third event of a burst of 2: wait %v", w)
	}
	if w := k.blocked("hot"); w <= 0 {
		t.Fatalf("blocked: %v", w)
	}
	now = now.Add(time.Second)
	if w := k.blocked("hot"); w != 0 {
		t.Fatalf("blocked after a refill: %v", w)
	}
	if w := k.blocked("never-seen"); w != 0 || k.len() != 1000 {
		t.Fatalf("blocked on an unknown key: %v, %d buckets", w, k.len())
	}
	var off *keyedLimiter = newKeyedLimiter(0, 5, 10, time.Now)
	if off != nil || off.allow("x") != 0 || off.blocked("x") != 0 {
		t.Fatal("a rate of 0 must disable the limiter")
	}
}

// TestClientAddr keys requests by peer address, by the last entry of the
// trusted proxy's header when configured, and IPv6 per /64.
func TestClientAddr(t *testing.T) {
	cases := []struct {
		header, remote, xff, want string
	}{
		{"", "192.0.2.1:5555", "203.0.113.9", "192.0.2.1"},
		{"X-Forwarded-For", "192.0.2.1:5555", "203.0.113.9", "203.0.113.9"},
		{"X-Forwarded-For", "192.0.2.1:5555", "spoofed, 203.0.113.9", "203.0.113.9"},
		{"X-Forwarded-For", "192.0.2.1:5555", "", "192.0.2.1"},
		{"", "[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"X-Forwarded-For", "192.0.2.1:5555", "2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"X-Forwarded-For", "192.0.2.1:5555", "garbage", "unparsed"},
	}
	for _, c := range cases {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientAddr(r, c.header); got != c.want {
			t.Errorf("%+v: got %s", c, got)
		}
	}
}
