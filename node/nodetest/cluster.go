package nodetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/auth"
)

// ClusterSize is the number of NATS servers StartCluster runs.
const ClusterSize = 3

// Cluster is a real three-server NATS JetStream cluster in this process. Each
// server listens for clients on its own loopback port, routes to the others
// on its own cluster port, and stores under its own directory. Servers can be
// killed and restarted on the same ports and store, which is what the fault
// tests do to it.
type Cluster struct {
	t       testing.TB
	mu      sync.Mutex
	servers [ClusterSize]*server.Server
	opts    [ClusterSize]server.Options
}

// StartCluster starts the cluster and waits until JetStream answers on every
// server. The servers are shut down when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	clientPorts := freePorts(t, ClusterSize)
	routePorts := freePorts(t, ClusterSize)
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	dir := t.TempDir()
	for i := range ClusterSize {
		c.opts[i] = NATSOptions(server.Options{
			ServerName: fmt.Sprintf("nats-%d", i),
			Port:       clientPorts[i],
			StoreDir:   filepath.Join(dir, fmt.Sprintf("nats-%d", i)),
			Cluster: server.ClusterOpts{
				Name: "presence-test",
				Host: "127.0.0.1",
				Port: routePorts[i],
				// Clients use only the URLs they are given, so that a TCP
				// proxy in front of a server really cuts a client off.
				NoAdvertise: true,
			},
			Routes: routes,
		})
	}
	t.Cleanup(c.shutdownAll)
	var wg sync.WaitGroup
	errs := make([]error, ClusterSize)
	for i := range ClusterSize {
		wg.Go(func() { errs[i] = c.start(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range ClusterSize {
		c.WaitJetStream(i)
	}
	return c
}

// freePorts returns n TCP ports on loopback that were free a moment ago.
// They are drawn below the kernel's ephemeral range when it can be read:
// a port the kernel handed out for listening on :0 is also where it puts
// the source ports of outgoing connections, so in a busy test binary
// another test's connection can take it before the server listens.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	low := ephemeralLow()
	for range n {
		var ln net.Listener
		for try := 0; ln == nil && low > 20000 && try < 50; try++ {
			port := 10000 + rand.IntN(low-10000)
			ln, _ = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		}
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux),
// 0 when unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	low, _ := strconv.Atoi(f[0])
	return low
}

func (c *Cluster) start(i int) error {
	srv, err := StartNATS(c.opts[i])
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.servers[i] = srv
	c.mu.Unlock()
	return nil
}

func (c *Cluster) shutdownAll() {
	for i := range ClusterSize {
		c.Kill(i)
	}
}

// URL is the client URL of server i.
func (c *Cluster) URL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port)
}

// URLs are the client URLs of all servers.
func (c *Cluster) URLs() []string {
	urls := make([]string, ClusterSize)
	for i := range urls {
		urls[i] = c.URL(i)
	}
	return urls
}

// Name is the server name of server i, as JetStream reports leaders.
func (c *Cluster) Name(i int) string { return c.opts[i].ServerName }

// Index returns the index of the server called name, or -1.
func (c *Cluster) Index(name string) int {
	for i := range ClusterSize {
		if c.opts[i].ServerName == name {
			return i
		}
	}
	return -1
}

// Running reports whether server i is up.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i] != nil
}

// Kill shuts server i down (a no-op when it is down). Its store stays.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	srv := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts server i again on its ports and store and waits until
// JetStream answers on it.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Running(i) {
		return
	}
	if err := c.start(i); err != nil {
		c.t.Fatal(err)
	}
	c.WaitJetStream(i)
}

// Connect opens a plain client connection to the servers listed (all when
// none are), closed when the test ends.
func (c *Cluster) Connect(servers ...int) (*nats.Conn, jetstream.JetStream) {
	c.t.Helper()
	var urls []string
	for _, i := range servers {
		urls = append(urls, c.URL(i))
	}
	if len(urls) == 0 {
		urls = c.URLs()
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return nc, js
}

// WaitJetStream waits until JetStream answers through server i, which in a
// cluster means the meta leader is known to it.
func (c *Cluster) WaitJetStream(i int) {
	c.t.Helper()
	nc, err := nats.Connect(c.URL(i))
	if err != nil {
		c.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	Eventually(c.t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
}

// StreamLeader returns the index of the server that leads stream, waiting
// until it has one.
func (c *Cluster) StreamLeader(stream string) int {
	c.t.Helper()
	var running []int
	for i := range ClusterSize {
		if c.Running(i) {
			running = append(running, i)
		}
	}
	_, js := c.Connect(running...)
	leader := -1
	Eventually(c.t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" {
			return fmt.Errorf("stream %s has no leader", stream)
		}
		leader = c.Index(ci.Leader)
		if leader < 0 || !c.Running(leader) {
			return fmt.Errorf("stream %s leader %q is not a running server", stream, ci.Leader)
		}
		return nil
	})
	return leader
}

// WithCluster connects a node to all servers of c with a stream of three
// replicas, and with the short timeouts the fault tests need.
func WithCluster(c *Cluster) Option {
	return WithClusterURLs(c.URLs()...)
}

// WithClusterURLs is WithCluster through the given URLs (e.g. a proxy's).
func WithClusterURLs(urls ...string) Option {
	return func(cfg *node.Config, _ *node.Options) {
		cfg.Store.NATSURLs = urls
		cfg.Store.StreamReplicas = ClusterSize
		cfg.Store.PublishTimeout = 3 * time.Second
		cfg.HTTP.ApplyTimeout = 5 * time.Second
	}
}

// WithNodeName names the node (each node of a test needs its own name).
func WithNodeName(name string) Option {
	return func(cfg *node.Config, _ *node.Options) { cfg.NodeName = name }
}

// Users is how many numbered test users (UserID(i), UserToken(i)) exist
// besides those in Tokens.
const Users = 64

// UserID is the ID of numbered test user i.
func UserID(i int) string { return fmt.Sprintf("@user%d:%s", i, ServerName) }

// UserToken is the access token of numbered test user i.
func UserToken(i int) string { return fmt.Sprintf("user%d-token", i) }

// allTokens are Tokens and the numbered users' tokens.
func allTokens() map[string]string {
	m := make(map[string]string, len(Tokens)+Users)
	for k, v := range Tokens {
		m[k] = v
	}
	for i := range Users {
		m[UserToken(i)] = UserID(i)
	}
	return m
}

// TryStartNode starts a node that knows the numbered users' tokens too, and
// returns without waiting for it to be ready. Unlike NewNode it reports
// failure as an error, so that several nodes can start in goroutines at
// once. The node is shut down when the test ends.
func TryStartNode(t testing.TB, opts ...Option) (*Node, error) {
	cfg := Config(t)
	reg := prometheus.NewRegistry()
	tokens, err := auth.NewStaticTokens(allTokens())
	if err != nil {
		return nil, err
	}
	o := node.Options{Logger: Logger(t), Registerer: reg, Gatherer: reg, Authenticator: tokens}
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	n, err := node.New(cfg, o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		return nil, fmt.Errorf("start node %s: %w", cfg.NodeName, err)
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
	return tn, nil
}

// StartNodes starts k nodes at once, named node-0 … node-(k-1), with
// opts(i) as the options of node i, and waits until all are ready.
func StartNodes(t testing.TB, k int, opts func(i int) []Option) []*Node {
	t.Helper()
	nodes := make([]*Node, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() {
			o := append([]Option{WithNodeName(fmt.Sprintf("node-%d", i))}, opts(i)...)
			nodes[i], errs[i] = TryStartNode(t, o...)
			if errs[i] == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				errs[i] = nodes[i].WaitReady(ctx)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// Request sends one request and reports transport failures as errors (for
// goroutines, where a test must not call Fatal).
func Request(ctx context.Context, method, fullURL, token string, body []byte) (*Response, error) {
	req, err := newRequest(ctx, method, fullURL, token, body)
	if err != nil {
		return nil, err
	}
	return DefaultClient.exchange(req)
}
