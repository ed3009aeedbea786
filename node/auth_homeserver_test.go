package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/apierr"
	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/nodetest"
)

// standInHomeserver is NOT a homeserver: it is a loopback HTTP server that
// answers /account/whoami the way the test tells it to, for what a real
// homeserver cannot be made to do on demand: be slow, fail with 500 or 429,
// answer garbage, and count exactly how often it is asked while the test
// moves the cache's clock. Real token checks against a real homeserver
// (Dendrite) are in dendrite_test.go.
type standInHomeserver struct {
	*httptest.Server
	mu     sync.Mutex
	users  map[string]string // token → user ID
	mode   string            // "", "500", "429", "slow", "garbage", "block"
	calls  atomic.Int64
	unhold chan struct{}
	// strayAuth collects Authorization headers sent anywhere but whoami.
	strayAuth []string
}

func newStandInHomeserver(t *testing.T) *standInHomeserver {
	h := &standInHomeserver{users: map[string]string{}, unhold: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() {
		h.release()
		h.Close()
	})
	return h
}

func (h *standInHomeserver) setUser(token, userID string) {
	h.mu.Lock()
	h.users[token] = userID
	h.mu.Unlock()
}

func (h *standInHomeserver) set(mode string) { h.mu.Lock(); h.mode = mode; h.mu.Unlock() }
func (h *standInHomeserver) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.unhold:
	default:
		close(h.unhold)
	}
}

func (h *standInHomeserver) serve(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	if r.URL.Path != "/_matrix/client/v3/account/whoami" {
		h.mu.Lock()
		h.strayAuth = append(h.strayAuth, r.Header.Get("Authorization"))
		h.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	h.mu.Lock()
	mode := h.mode
	user, ok := h.users[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	h.mu.Unlock()
	switch mode {
	case "500":
		http.Error(w, `{"errcode":"M_UNKNOWN","error":"boom"}`, 500)
		return
	case "429":
		w.Header().Set("Retry-After", "7")
		http.Error(w, `{"errcode":"M_LIMIT_EXCEEDED","error":"slow down"}`, 429)
		return
	case "slow":
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
		return
	case "redirect":
		http.Redirect(w, r, "/leak", http.StatusFound)
		return
	case "garbage":
		_, _ = w.Write([]byte(`{"user_id":"not a user id"}`))
		return
	case "block":
		<-h.unhold
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"user_id": user, "device_id": "D", "is_guest": false})
}

// withHomeserverAuth makes a test node check tokens with the homeserver at url.
func withHomeserverAuth(url string, logger *slog.Logger) nodetest.Option {
	return func(c *node.Config, o *node.Options) {
		c.Auth.Provider = auth.ProviderHomeserver
		c.Auth.HomeserverURL = url
		c.Auth.Timeout = 300 * time.Millisecond
		o.Authenticator = nil
		if logger != nil {
			o.Logger = logger
		}
	}
}

// lockedBuffer collects logs written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestHomeserverAuthThroughNode runs a node with --auth homeserver against
// the stand-in: accepted and refused tokens, the domain check on PUT, and
// every way the homeserver can fail, which must give 503 with Retry-After
// and never let a request through. No token appears in the logs.
func TestHomeserverAuthThroughNode(t *testing.T) {
	hs := newStandInHomeserver(t)
	const good, remote, bad = "syt_Z29vZA_secretgood", "syt_cmVt_secretremote", "syt_YmFk_secretbad"
	hs.setUser(good, "@alice:example.org")
	hs.setUser(remote, "@mallory:elsewhere.test")
	logs := &lockedBuffer{}
	n := nodetest.StartNode(t, withHomeserverAuth(hs.URL, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		nodetest.WithConfig(func(c *node.Config) { c.Auth.NegativeCacheTTL = 0 }))

	if r := n.Put(t, good, "@alice:example.org", map[string]any{"presence": "online"}); r.Status != 200 {
		t.Fatalf("PUT with an accepted token: %d %s", r.Status, r.Body)
	}
	if r := n.Get(t, good, "@alice:example.org"); r.Status != 200 || r.JSON["presence"] != "online" {
		t.Fatalf("GET with an accepted token: %d %s", r.Status, r.Body)
	}
	r := n.Get(t, bad, "@alice:example.org")
	wantMatrixError(t, "refused token", r.Status, r.Header, r.Body, 401, "M_UNKNOWN_TOKEN")
	r = n.Put(t, remote, "@mallory:elsewhere.test", map[string]any{"presence": "online"})
	wantMatrixError(t, "PUT by a user of another server", r.Status, r.Header, r.Body, 403, "M_FORBIDDEN")

	for _, mode := range []string{"500", "429", "slow", "garbage", "redirect"} {
		hs.set(mode)
		r := n.Get(t, bad, "@alice:example.org")
		wantMatrixError(t, "homeserver "+mode, r.Status, r.Header, r.Body, 503, "M_UNKNOWN")
		want := "2"
		if mode == "429" {
			want = "7"
		}
		if got := r.Header.Get("Retry-After"); got != want {
			t.Fatalf("homeserver %s: Retry-After %q, want %q", mode, got, want)
		}
	}
	hs.set("")
	hs.mu.Lock()
	stray := hs.strayAuth
	hs.mu.Unlock()
	if len(stray) > 0 {
		t.Fatalf("a redirect was followed with the token: %q", stray)
	}
	hs.Close() // down
	r = n.Get(t, bad, "@alice:example.org")
	wantMatrixError(t, "homeserver down", r.Status, r.Header, r.Body, 503, "M_UNKNOWN")
	// The accepted token is still cached: the outage does not log users out.
	if r := n.Get(t, good, "@alice:example.org"); r.Status != 200 {
		t.Fatalf("cached token while the homeserver is down: %d %s", r.Status, r.Body)
	}
	if c := counter(t, n.Registry, "presenced_auth_homeserver_lookups_total", "result", "refused"); c < 1 {
		t.Fatalf("refused look-ups counted: %v", c)
	}
	if c := counter(t, n.Registry, "presenced_auth_homeserver_lookups_total", "result", "failed"); c < 5 {
		t.Fatalf("failed look-ups counted: %v", c)
	}
	if c := counter(t, n.Registry, "presenced_auth_cache_total", "result", "hit"); c < 1 {
		t.Fatalf("cache hits counted: %v", c)
	}
	for _, tok := range []string{good, remote, bad, "secretgood", "secretbad"} {
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("a token appears in the logs:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "homeserver") {
		t.Fatalf("homeserver failures were not logged:\n%s", logs.String())
	}
}

// fakeClock is a settable clock for the token cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newAuth(t *testing.T, hs *standInHomeserver, clock *fakeClock, mutate func(*auth.HomeserverAuthConfig)) *auth.HomeserverAuth {
	cfg := auth.HomeserverAuthConfig{URL: hs.URL, CacheTTL: time.Minute, NegativeCacheTTL: 5 * time.Second, CacheSize: 100, Timeout: 2 * time.Second, Now: clock.Now}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := auth.NewHomeserverAuth(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func errKind(err error) apierr.Kind {
	var e *apierr.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return -1
}

// TestHomeserverAuthCache checks what is cached and for how long: accepted
// tokens for the TTL, refused ones for the negative TTL, failures never.
func TestHomeserverAuthCache(t *testing.T) {
	hs := newStandInHomeserver(t)
	hs.setUser("t1", "@alice:example.org")
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	a := newAuth(t, hs, clock, nil)
	ctx := context.Background()

	for range 3 {
		if u, err := a.Authenticate(ctx, "t1"); err != nil || u.UserID != "@alice:example.org" || u.DeviceID != "D" {
			t.Fatalf("Authenticate: %+v %v", u, err)
		}
	}
	if c := hs.calls.Load(); c != 1 {
		t.Fatalf("%d whoami calls for one cached token, want 1", c)
	}
	clock.Advance(time.Minute + time.Second)
	if _, err := a.Authenticate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if c := hs.calls.Load(); c != 2 {
		t.Fatalf("%d whoami calls after the TTL, want 2", c)
	}

	for range 3 {
		if _, err := a.Authenticate(ctx, "nope"); errKind(err) != apierr.KindUnknownToken {
			t.Fatalf("refused token: %v", err)
		}
	}
	if c := hs.calls.Load(); c != 3 {
		t.Fatalf("%d whoami calls, want 3 (refusal cached)", c)
	}
	clock.Advance(6 * time.Second)
	hs.setUser("nope", "@bob:example.org") // the token became valid
	if u, err := a.Authenticate(ctx, "nope"); err != nil || u.UserID != "@bob:example.org" {
		t.Fatalf("after the negative TTL: %+v %v", u, err)
	}

	hs.set("500")
	for range 3 {
		if _, err := a.Authenticate(ctx, "fresh"); errKind(err) != apierr.KindUnavailable {
			t.Fatalf("homeserver failing: %v", err)
		}
	}
	if c := hs.calls.Load(); c != 7 {
		t.Fatalf("%d whoami calls, want 7 (failures are not cached)", c)
	}
}

// TestHomeserverAuthCacheBounded fills the cache with more tokens than it
// holds: it keeps its size.
func TestHomeserverAuthCacheBounded(t *testing.T) {
	hs := newStandInHomeserver(t)
	for i := range 500 {
		hs.setUser(fmt.Sprintf("tok%d", i), fmt.Sprintf("@u%d:example.org", i))
	}
	a := newAuth(t, hs, &fakeClock{now: time.Unix(1e9, 0)}, func(c *auth.HomeserverAuthConfig) { c.CacheSize = 50 })
	for i := range 500 {
		_, _ = a.Authenticate(context.Background(), fmt.Sprintf("tok%d", i))
		_, _ = a.Authenticate(context.Background(), fmt.Sprintf("bad%d", i))
	}
	if acc, ref := a.CacheLen(); acc > 50 || ref > 50 {
		t.Fatalf("cache holds %d accepted and %d refused tokens, bound 50", acc, ref)
	}
}

// TestHomeserverAuthCollapse sends many concurrent checks of one token
// while the homeserver holds its answer: it is asked once. The cache is off
// so that only the collapsing of look-ups can explain one call.
func TestHomeserverAuthCollapse(t *testing.T) {
	hs := newStandInHomeserver(t)
	hs.setUser("t", "@alice:example.org")
	hs.set("block")
	a := newAuth(t, hs, &fakeClock{now: time.Unix(1e9, 0)}, func(c *auth.HomeserverAuthConfig) { c.CacheTTL = 0 })
	const callers = 50
	var started, done sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			u, err := a.Authenticate(context.Background(), "t")
			if err == nil && u.UserID != "@alice:example.org" {
				err = fmt.Errorf("user %q", u)
			}
			errs <- err
		}()
	}
	started.Wait()
	nodetest.Eventually(t, 5*time.Second, func() error {
		if hs.calls.Load() == 0 {
			return errors.New("no call yet")
		}
		return nil
	})
	// Give stragglers time to (wrongly) send calls of their own: a
	// negative cannot be polled for.
	time.Sleep(100 * time.Millisecond)
	hs.release()
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := hs.calls.Load(); c != 1 {
		t.Fatalf("%d whoami calls for %d concurrent checks of one token, want 1", c, callers)
	}
}

// TestHomeserverAuthCallerGivesUp cancels a caller while the homeserver
// holds the answer: that caller gets 503 at once, and another caller of the
// same token still gets the answer.
func TestHomeserverAuthCallerGivesUp(t *testing.T) {
	hs := newStandInHomeserver(t)
	hs.setUser("t", "@alice:example.org")
	hs.set("block")
	a := newAuth(t, hs, &fakeClock{now: time.Unix(1e9, 0)}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { _, err := a.Authenticate(ctx, "t"); res <- err }()
	other := make(chan error, 1)
	go func() { _, err := a.Authenticate(context.Background(), "t"); other <- err }()
	nodetest.Eventually(t, 5*time.Second, func() error {
		if hs.calls.Load() == 0 {
			return errors.New("no call yet")
		}
		return nil
	})
	cancel()
	if err := <-res; errKind(err) != apierr.KindUnavailable {
		t.Fatalf("cancelled caller: %v", err)
	}
	hs.release()
	if err := <-other; err != nil {
		t.Fatalf("other caller: %v", err)
	}
}

// TestNewAuthenticatorChoices checks the --auth choices and their errors.
func TestNewAuthenticatorChoices(t *testing.T) {
	cfg := node.DefaultConfig()
	if _, err := auth.New(cfg.Auth, nil); err == nil {
		t.Fatal("static without --tokens-file accepted")
	}
	cfg.Auth.Provider = auth.ProviderHomeserver
	cfg.Auth.HomeserverURL = "ftp://x"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--homeserver-url") {
		t.Fatalf("Validate: %v", err)
	}
	cfg.Auth.HomeserverURL = "http://127.0.0.1:1"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if a, err := auth.New(cfg.Auth, nil); err != nil {
		t.Fatal(err)
	} else if _, ok := a.(*auth.HomeserverAuth); !ok {
		t.Fatalf("got %T", a)
	}
	cfg.Auth.Provider = "ldap"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--auth") {
		t.Fatalf("Validate: %v", err)
	}
}

// BenchmarkHomeserverAuthCached measures a token check answered from the
// cache, the path of nearly every request with --auth homeserver.
func BenchmarkHomeserverAuthCached(b *testing.B) {
	hs := &standInHomeserver{users: map[string]string{"t": "@alice:example.org"}, unhold: make(chan struct{})}
	hs.Server = httptest.NewServer(http.HandlerFunc(hs.serve))
	defer hs.Close()
	a, err := auth.NewHomeserverAuth(auth.HomeserverAuthConfig{URL: hs.URL, CacheTTL: time.Hour, CacheSize: 1000, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, "t"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Authenticate(ctx, "t"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
