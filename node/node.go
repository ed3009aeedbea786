// Package node runs a presence node: it wires node/store (the NATS
// connection, the stream and the follower), the projection, node/auth and
// node/httpapi together, starts them in order and stops them in the
// reverse order, and holds the node's configuration and metrics.
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/httpapi"
	"github.com/presenced/presenced/node/store"
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
	// Authenticator resolves access tokens (default: the one cfg.Auth
	// describes). If it has background work (auth.Runner: a tokens file to
	// watch), the node runs it for as long as it runs.
	Authenticator auth.Authenticator
	// Reload receives when the operator asks for a reload (SIGHUP): the
	// authenticator then reads its tokens file again.
	Reload <-chan os.Signal
	// Version is the build's version, exported as presenced_build_info's
	// version label (default: "unknown").
	Version string
}

// Node is one presence node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	clock    Clock
	auth     auth.Authenticator
	reload   <-chan os.Signal
	reg      prometheus.Registerer
	gatherer prometheus.Gatherer
	version  string

	store   *store.Store
	proj    *projection.Projection
	httpSrv *http.Server
	ln      net.Listener

	// The internal (fleet) API, when cfg.HTTP.InternalListen is set.
	fleet          *fleetParts
	internalSrv    *http.Server
	internalLn     net.Listener
	internalCancel context.CancelFunc

	// The metrics listener, when cfg.HTTP.MetricsListen is set.
	metricsSrv *http.Server
	metricsLn  net.Listener

	stopping atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// NewAuthenticator builds the authenticator cfg.Auth describes, for a
// caller that wants to fail early on a bad tokens file (Options.Authenticator).
func NewAuthenticator(cfg Config, log *slog.Logger) (auth.Authenticator, error) {
	return auth.New(cfg.Auth, log)
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
		reload:  opts.Reload,
		version: opts.Version,
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.clock == nil {
		n.clock = systemClock{}
	}
	if n.auth == nil {
		a, err := NewAuthenticator(cfg, n.log)
		if err != nil {
			return nil, err
		}
		n.auth = a
	}
	n.reg, n.gatherer = opts.Registerer, opts.Gatherer
	if n.reg == nil {
		r := prometheus.NewRegistry()
		n.reg, n.gatherer = r, r
	}
	return n, nil
}

// Start starts the node in order: the store (embedded server if any, NATS
// connection, stream), the projection and the follower that feeds it, the
// metrics, the HTTP listener and the authenticator's background work. It
// returns once HTTP is listening; the node is ready (see Ready) once the
// replay has caught up.
func (n *Node) Start(ctx context.Context) (err error) {
	if n.store, err = store.Open(ctx, n.cfg.Store, store.Options{Name: n.cfg.NodeName, Logger: n.log}); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			n.store.Close()
		}
	}()
	// Size the projection for the users the stream holds, so that the replay
	// does not grow it step by step.
	size := int(min(n.store.Messages(), 1<<32))
	if n.fleetOn() {
		// The fleet API reads the change-feed and timer indexes.
		n.proj = projection.New(size, projection.Options{Feed: true, Timers: true, Policy: n.decay()})
		if n.fleet, err = n.newFleet(); err != nil {
			return err
		}
	} else {
		n.proj = projection.New(size)
	}
	n.store.Follow(n.proj)

	metrics := newAPIMetrics()
	api := httpapi.New(n.cfg.HTTP, httpapi.Deps{
		Auth:           newAuthAdapter(n.auth),
		Policy:         auth.Policy{ServerName: n.cfg.ServerName, Visibility: n.cfg.Auth.Visibility},
		Publisher:      n.store,
		Stream:         n.store,
		Presence:       n.proj,
		Health:         health{n},
		Clock:          n.clock,
		Logger:         n.log,
		Metrics:        metrics,
		Gatherer:       n.gatherer,
		Decay:          n.decay(),
		Origin:         n.cfg.NodeName,
		PublishTimeout: n.cfg.Store.PublishTimeout,
		ServerName:     n.cfg.ServerName,
		Fleet:          n.fleetDeps(),
	})
	listener := api.ClientListener()
	if n.ln, err = listener.Listen(); err != nil {
		return err
	}
	n.httpSrv = listener.Server(api.ClientHandler(), n.log)
	openConns := httpapi.CountConnections(n.httpSrv)
	if err = n.registerMetrics(metrics, api.InFlight, openConns); err != nil {
		_ = n.ln.Close()
		return err
	}

	if n.fleet != nil {
		if err = n.startInternal(api, api.InternalHandler()); err != nil {
			_ = n.ln.Close()
			return err
		}
	}
	if n.cfg.HTTP.MetricsListen != "" {
		if err = n.startMetricsListener(api); err != nil {
			_ = n.ln.Close()
			if n.internalLn != nil {
				_ = n.internalLn.Close()
			}
			return err
		}
	}

	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if n.fleet != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.fleet.reaper.Run(runCtx)
		}()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.httpSrv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("HTTP server stopped", "err", err)
		}
	}()
	reload := n.fanOutReload(runCtx, n.reload)
	if r, ok := n.auth.(auth.Runner); ok {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			r.Run(runCtx, reload)
		}()
	}
	n.log.Info("presence node started", "listen", n.ln.Addr().String(), "stream", n.cfg.Store.Stream,
		"embedded_nats", n.store.Embedded(), "server_name", n.cfg.ServerName, "internal_listen", n.InternalAddr(),
		"metrics_listen", n.MetricsAddr())
	return nil
}

// startMetricsListener opens the listener of /metrics and the probes and
// serves it until Shutdown.
func (n *Node) startMetricsListener(api *httpapi.API) error {
	l := api.MetricsListener()
	ln, err := l.Listen()
	if err != nil {
		return err
	}
	n.metricsLn = ln
	n.metricsSrv = l.Server(api.MetricsHandler(), n.log)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("metrics HTTP server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address HTTP listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// MetricsAddr is the address of the metrics listener ("" when off).
func (n *Node) MetricsAddr() string {
	if n.metricsLn == nil {
		return ""
	}
	return n.metricsLn.Addr().String()
}

// Projection gives read access to the node's projection (tests, tools).
func (n *Node) Projection() *projection.Projection { return n.proj }

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
// finish (bounded by ctx), stop the authenticator's background work, then
// the store: the follower, the NATS connection (flushing what it buffered)
// and the embedded server.
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
		if n.internalSrv != nil {
			n.internalCancel() // ends long polls and event streams
			if err := n.internalSrv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("internal HTTP shutdown: %w", err))
				_ = n.internalSrv.Close()
			}
		}
		if n.httpSrv != nil {
			if err := n.httpSrv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("HTTP shutdown: %w", err))
				_ = n.httpSrv.Close()
			}
		}
		// The metrics listener closes last, so that a scrape can watch the
		// rest shut down.
		if n.metricsSrv != nil {
			if err := n.metricsSrv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("metrics HTTP shutdown: %w", err))
				_ = n.metricsSrv.Close()
			}
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.store != nil {
			n.store.Close()
		}
		n.stopErr = errors.Join(errs...)
		n.log.Info("presence node stopped")
	})
	return n.stopErr
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
