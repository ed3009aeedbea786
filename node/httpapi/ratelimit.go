package httpapi

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// keyedLimiter is a token bucket per key (a user ID or a client address),
// kept in a fixed-size LRU table: memory stays bounded whatever the number
// of keys. A key evicted from the table starts again with a full bucket; the
// table is sized so that only keys idle for long are evicted in practice.
// A nil *keyedLimiter allows everything.
type keyedLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex // serialises get-or-create, so a key gets one bucket
	buckets *lru.Cache[string, *rate.Limiter]
}

// newKeyedLimiter returns a limiter of perSecond events per key with bursts
// of burst, keeping at most size keys; nil (no limit) when perSecond is 0.
func newKeyedLimiter(perSecond float64, burst, size int, now func() time.Time) *keyedLimiter {
	if perSecond <= 0 {
		return nil
	}
	if size < 1 {
		size = 1
	}
	c, _ := lru.New[string, *rate.Limiter](size) // only fails for size < 1
	return &keyedLimiter{limit: rate.Limit(perSecond), burst: max(burst, 1), now: now, buckets: c}
}

func (k *keyedLimiter) bucket(key string) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l, ok := k.buckets.Get(key); ok {
		return l
	}
	l := rate.NewLimiter(k.limit, k.burst)
	k.buckets.Add(key, l)
	return l
}

// allow takes one token from key's bucket. When the bucket is empty it
// takes nothing and returns how long until a token is available.
func (k *keyedLimiter) allow(key string) (wait time.Duration) {
	if k == nil {
		return 0
	}
	now := k.now()
	res := k.bucket(key).ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// take takes one token from key's bucket if one is left.
func (k *keyedLimiter) take(key string) {
	if k == nil {
		return
	}
	k.bucket(key).AllowN(k.now(), 1)
}

// blocked returns how long until key's bucket holds a token again, or 0 if
// it holds one now. It takes nothing, and creates no bucket.
func (k *keyedLimiter) blocked(key string) time.Duration {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	l, ok := k.buckets.Peek(key)
	k.mu.Unlock()
	if !ok {
		return 0
	}
	tokens := l.TokensAt(k.now())
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(k.limit) * float64(time.Second))
}

// len is the number of buckets held.
func (k *keyedLimiter) len() int {
	if k == nil {
		return 0
	}
	return k.buckets.Len()
}

// clientAddr is the address a request's rate limits are keyed by: the
// last address of the RealIPHeader when one is configured (the entry the
// trusted proxy appended), else the TCP peer. IPv6 addresses count per /64,
// as one host usually holds a whole /64.
func clientAddr(r *http.Request, realIPHeader string) string {
	addr := ""
	if h := realIPHeader; h != "" {
		if vs := r.Header.Values(h); len(vs) > 0 {
			last := vs[len(vs)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			addr = strings.TrimSpace(last)
		}
	}
	if addr == "" {
		addr = r.RemoteAddr
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	ip := net.ParseIP(strings.Trim(addr, "[]"))
	if ip == nil {
		return "unparsed"
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}
