// Package node runs a presence node: the HTTP API, authentication, the NATS
// connection, the stream follower that feeds the projection, and metrics.
//
// A Node is a library object: several can run in one process (tests start
// three on one cluster), each with its own registry, logger and clock.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/projection"
)

// Clock tells the time. Queries read it; nothing else in the node does.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options are a node's collaborators. Every field is optional.
type Options struct {
	// Logger receives the node's logs (default: discard).
	Logger *slog.Logger
	// Registerer receives the node's metrics; Gatherer serves /metrics. A nil
	// Registerer gets a private registry, which then also serves /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Clock is the clock GETs are computed at (default: the system clock).
	Clock Clock
	// Authenticator resolves access tokens (default: cfg.TokensFile).
	Authenticator Authenticator
}

// Node is one presence node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	clock    Clock
	auth     Authenticator
	policy   projection.Policy
	metrics  *metrics
	reg      prometheus.Registerer
	gatherer prometheus.Gatherer

	proj     *projection.Projection
	waiter   *seqWaiter
	follower *follower
	pub      *publisher
	monitor  *lagMonitor

	embedded *embeddedServer
	nc       *nats.Conn
	js       jetstream.JetStream
	httpSrv  *http.Server
	ln       net.Listener

	// putLimits and authFailures are the rate limiters (ratelimit.go);
	// rejected counts requests refused by a limit (limits.go).
	putLimits    *keyedLimiter
	authFailures *keyedLimiter
	rejected     *prometheus.CounterVec

	stopping atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// New checks cfg and prepares a node; Start runs it.
func New(cfg Config, opts Options) (*Node, error) {
	if cfg.NodeName == "" {
		host, _ := os.Hostname()
		cfg.NodeName = host
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		log:     opts.Logger,
		clock:   opts.Clock,
		auth:    opts.Authenticator,
		policy:  policyOf(&cfg),
		metrics: newMetrics(),
		waiter:  newSeqWaiter(),
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.clock == nil {
		n.clock = systemClock{}
	}
	if n.auth == nil {
		a, err := NewAuthenticator(&cfg, n.log)
		if err != nil {
			return nil, err
		}
		n.auth = a
	}
	n.initLimits()
	n.reg, n.gatherer = opts.Registerer, opts.Gatherer
	if n.reg == nil {
		r := prometheus.NewRegistry()
		n.reg, n.gatherer = r, r
	}
	return n, nil
}

// Start starts the node: the embedded server (if any), the NATS connection,
// the stream, the follower and the HTTP listener. It returns once HTTP is
// listening; the node is ready (see Ready) once the replay has caught up.
func (n *Node) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			n.closeNATS()
		}
	}()
	if len(n.cfg.NATSURLs) == 0 {
		if n.embedded, err = startEmbedded(n.cfg.DataDir, n.cfg.NodeName, n.log); err != nil {
			return err
		}
	}
	if n.nc, err = connect(&n.cfg, n.embeddedServer(), n.log, func() {}); err != nil {
		return err
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	if err = waitForJetStream(ctx, n.js); err != nil {
		return err
	}
	stream, err := ensureStream(ctx, n.js, &n.cfg, n.log)
	if err != nil {
		return err
	}
	// Size the projection for the users the stream holds, so that the replay
	// does not grow it step by step.
	n.proj = projection.New(int(min(stream.CachedInfo().State.Msgs, 1<<32)))
	n.pub = &publisher{nc: n.nc, js: n.js, stream: n.cfg.Stream, subjectPrefix: n.cfg.SubjectPrefix, timeout: n.cfg.PublishTimeout}
	n.follower = newFollower(n.js, &n.cfg, n.proj, n.waiter, n.log)
	n.monitor = newLagMonitor(n.js, &n.cfg, n.follower)
	n.pub.storeDown = n.monitor.storeDown
	if err = n.registerMetrics(); err != nil {
		return err
	}
	if err = n.registerLagMetrics(); err != nil {
		return err
	}
	if err = n.registerLimitMetrics(); err != nil {
		return err
	}

	if n.ln, err = net.Listen("tcp", n.cfg.Listen); err != nil {
		return fmt.Errorf("listen on %s: %w", n.cfg.Listen, err)
	}
	n.ln = limitListener(n.ln, n.cfg.MaxConnections)
	n.httpSrv = n.newHTTPServer()

	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		n.follower.run(runCtx)
	}()
	go func() {
		defer n.wg.Done()
		n.monitor.run(runCtx)
	}()
	go func() {
		defer n.wg.Done()
		if err := n.httpSrv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("HTTP server stopped", "err", err)
		}
	}()
	n.log.Info("presence node started", "listen", n.ln.Addr().String(), "stream", n.cfg.Stream,
		"embedded_nats", n.embedded != nil, "server_name", n.cfg.ServerName)
	return nil
}

// embeddedServer returns the embedded server, or nil on an external NATS.
func (n *Node) embeddedServer() *server.Server {
	if n.embedded == nil {
		return nil
	}
	return n.embedded.Server
}

// Addr is the address HTTP listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Projection gives read access to the node's projection (tests, tools).
func (n *Node) Projection() *projection.Projection { return n.proj }

// readiness reports whether the node should receive traffic, and why not.
func (n *Node) readiness() (bool, string) {
	switch {
	case n.stopping.Load():
		return false, "shutting down"
	case !n.nc.IsConnected():
		return false, "not connected to NATS"
	case !n.follower.caughtUp.Load():
		return false, "replaying the stream"
	case n.monitor.behind():
		return false, fmt.Sprintf("behind the stream (last known current %s ago)", n.monitor.staleness().Round(time.Millisecond))
	}
	return true, ""
}

// Ready reports whether the node is connected and caught up.
func (n *Node) Ready() bool {
	ok, _ := n.readiness()
	return ok
}

// WaitReady polls until the node is ready or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !n.Ready() {
		select {
		case <-ctx.Done():
			_, why := n.readiness()
			return fmt.Errorf("node not ready (%s): %w", why, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Shutdown stops the node in order: report not-ready (and keep serving for
// cfg.ShutdownDelay, so load balancers notice), let in-flight HTTP requests
// finish (bounded by ctx), stop the follower, close the NATS connection
// (flushing what it buffered), stop the embedded server.
func (n *Node) Shutdown(ctx context.Context) error {
	n.stopOnce.Do(func() {
		n.stopping.Store(true)
		if d := n.cfg.ShutdownDelay; d > 0 && n.httpSrv != nil {
			n.log.Info("not ready; serving on before closing the listener", "delay", d)
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		var errs []error
		if n.httpSrv != nil {
			if err := n.httpSrv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("HTTP shutdown: %w", err))
				_ = n.httpSrv.Close()
			}
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		n.closeNATS()
		n.stopErr = errors.Join(errs...)
		n.log.Info("presence node stopped")
	})
	return n.stopErr
}

func (n *Node) closeNATS() {
	if n.nc != nil {
		if err := n.nc.Drain(); err != nil {
			n.nc.Close()
		}
		for i := 0; i < 100 && !n.nc.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		n.nc.Close()
	}
	if n.embedded != nil {
		n.embedded.stop()
	}
}

// Run starts the node, serves until ctx ends, then shuts down within
// cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg Config, opts Options) error {
	n, err := New(cfg, opts)
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownDelay+n.cfg.ShutdownTimeout)
	defer cancel()
	return n.Shutdown(sctx)
}
