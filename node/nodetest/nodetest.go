// Package nodetest starts real presence nodes for tests: each with a real
// embedded (or external) NATS JetStream, a real HTTP server on loopback, its
// own registry, logger and clock. It also starts bare nats-servers (RunNATS)
// and clusters of them, and has poll-until helpers, a settable clock and a
// test-friendly wrapper of package client for the Matrix API.
package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/auth"
)

// ServerName is the homeserver domain of test nodes.
const ServerName = "example.org"

// Tokens are the access tokens test nodes accept (token → user ID).
var Tokens = map[string]string{
	"alice-token": "@alice:example.org",
	"bob-token":   "@bob:example.org",
	"carol-token": "@carol:example.org",
	"slash-token": "@we/ird.user:example.org",
	"eve-token":   "@eve:elsewhere.test",
}

// Node is a running test node.
type Node struct {
	*node.Node
	// URL is the node's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Config is the configuration the node was started with.
	Config node.Config
	// Registry holds the node's metrics.
	Registry *prometheus.Registry
	// Clock is the node's clock when the test set one (WithClock), else nil.
	Clock *Clock
	// InternalURL is the base URL of the internal (fleet) API when the node
	// serves it (WithFleet), else "".
	InternalURL string
}

// FleetSecret is the internal API's shared secret of test nodes (WithFleet).
const FleetSecret = "fleet-secret-for-tests-0123456789"

// WithFleet serves the internal (fleet) API on a random loopback port, with
// FleetSecret as its shared secret.
func WithFleet(t testing.TB) Option {
	path := filepath.Join(t.TempDir(), "internal-secret")
	if err := os.WriteFile(path, []byte(FleetSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *node.Config, _ *node.Options) {
		c.HTTP.InternalListen = "127.0.0.1:0"
		c.Auth.InternalSecretFile = path
	}
}

// Option changes how StartNode starts a node.
type Option func(*node.Config, *node.Options)

// WithConfig lets a test change the configuration.
func WithConfig(f func(*node.Config)) Option {
	return func(c *node.Config, _ *node.Options) { f(c) }
}

// WithClock gives the node a settable clock.
func WithClock(c *Clock) Option {
	return func(_ *node.Config, o *node.Options) { o.Clock = c }
}

// WithDataDir runs the embedded server on dir (to restart on the same store).
func WithDataDir(dir string) Option {
	return func(c *node.Config, _ *node.Options) { c.Store.DataDir = dir }
}

// WithNATS connects the node to external NATS servers instead of an embedded one.
func WithNATS(urls ...string) Option {
	return func(c *node.Config, _ *node.Options) { c.Store.NATSURLs = urls }
}

// Config returns the configuration test nodes start from: loopback, a random
// port, an embedded server in a fresh temporary directory.
func Config(t testing.TB) node.Config {
	cfg := node.DefaultConfig()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ServerName = ServerName
	cfg.Store.DataDir = t.TempDir()
	cfg.NodeName = t.Name()
	cfg.ShutdownTimeout = 5 * time.Second
	// Tests send many requests per user and from one address quickly; a
	// test of the rate limits turns them on with WithConfig.
	cfg.HTTP.RateLimitPerSecond = 0
	cfg.HTTP.AuthFailuresPerSecond = 0
	return cfg
}

// StartNode starts a node and waits until it is ready. It is shut down when
// the test ends.
func StartNode(t testing.TB, opts ...Option) *Node {
	t.Helper()
	n := NewNode(t, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// NewNode starts a node without waiting for it to be ready.
func NewNode(t testing.TB, opts ...Option) *Node {
	t.Helper()
	cfg := Config(t)
	reg := prometheus.NewRegistry()
	tokens, err := auth.NewStaticTokens(Tokens)
	if err != nil {
		t.Fatal(err)
	}
	o := node.Options{Logger: Logger(t), Registerer: reg, Gatherer: reg, Authenticator: tokens}
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	n, err := node.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	tn := &Node{Node: n, URL: "http://" + n.Addr(), Config: cfg, Registry: reg}
	if a := n.InternalAddr(); a != "" {
		tn.InternalURL = "http://" + a
	}
	if c, ok := o.Clock.(*Clock); ok {
		tn.Clock = c
	}
	return tn
}

// Logger returns a logger that writes to the test log at warn level, or at
// debug level when PRESENCED_TEST_DEBUG is set.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("PRESENCED_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// Clock is a settable clock for tests.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads the real time until it is moved.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now implements node.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Eventually polls cond until it returns nil or timeout passes, then fails
// the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// PresencePath is the v3 path of userID's presence status, percent-encoded.
func PresencePath(userID string) string { return client.PresencePath(userID) }

// Response is an HTTP answer with its body decoded where it is JSON.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// Errcode is the Matrix errcode of an error answer ("" if none).
func (r *Response) Errcode() string {
	s, _ := r.JSON["errcode"].(string)
	return s
}

// Client sends requests to the Matrix API of a node through package client,
// failing the test on a transport error.
type Client struct {
	HTTP *http.Client
	// Check, when set, is called with every exchange the client makes (the
	// request, its body, the decoded response). Test packages use it to
	// validate the whole conversation against the OpenAPI description.
	Check func(t testing.TB, req *http.Request, reqBody []byte, resp *Response)
}

// DefaultClient has a timeout so that a hanging server fails the test.
var DefaultClient = &Client{HTTP: &http.Client{Timeout: 30 * time.Second}}

// Do sends method to fullURL with token as bearer (none if empty) and body
// (none if nil).
func (c *Client) Do(t testing.TB, method, fullURL, token string, body []byte) *Response {
	t.Helper()
	return c.Send(t, NewRequest(t, method, fullURL, token, body), body)
}

// NewRequest is the request Do sends, for a test to add headers to before
// Send.
func NewRequest(t testing.TB, method, fullURL, token string, body []byte) *http.Request {
	t.Helper()
	req, err := newRequest(context.Background(), method, fullURL, token, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Send sends req, whose body (if any) is body, and reads the answer. Tests
// use it for requests Do cannot make (their own headers, no Content-Type).
func (c *Client) Send(t testing.TB, req *http.Request, body []byte) *Response {
	t.Helper()
	r, err := c.exchange(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	if c.Check != nil {
		c.Check(t, req, body, r)
	}
	return r
}

func (c *Client) exchange(req *http.Request) (*Response, error) {
	resp, err := client.New("", client.WithHTTPClient(c.HTTP)).Send(req)
	if err != nil {
		return nil, err
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: resp.Body}
	_ = json.Unmarshal(resp.Body, &r.JSON)
	return r, nil
}

// newRequest is a request with token as bearer (none if empty) and body as
// JSON (none if nil).
func newRequest(ctx context.Context, method, fullURL, token string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, fullURL, rd)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// Put sets userID's presence through n with token.
func (n *Node) Put(t testing.TB, token, userID string, body any) *Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return DefaultClient.Do(t, http.MethodPut, n.URL+PresencePath(userID), token, b)
}

// Get reads userID's presence through n with token.
func (n *Node) Get(t testing.TB, token, userID string) *Response {
	t.Helper()
	return DefaultClient.Do(t, http.MethodGet, n.URL+PresencePath(userID), token, nil)
}

// Client is a client of package client for n, sending token.
func (n *Node) Client(token string) *client.Client {
	return client.New(n.URL, client.WithToken(token), client.WithHTTPClient(DefaultClient.HTTP))
}
