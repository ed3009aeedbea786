package node

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/fleet"
	"github.com/presenced/presenced/node/httpapi"
	"github.com/presenced/presenced/node/store"
	"github.com/presenced/presenced/projection"
)

// fleetOn reports whether the node serves the internal (fleet) API.
func (n *Node) fleetOn() bool { return n.cfg.HTTP.InternalListen != "" }

// decay is the read-time policy: the same for GETs, the change feed and the
// writer functions, so that what a change carries is what a GET answers.
func (n *Node) decay() projection.Policy {
	return projection.Policy{
		IdleTimeout:       n.cfg.IdleTimeout,
		OfflineTimeout:    n.cfg.OfflineTimeout,
		ActiveWindow:      projection.DefaultActiveWindow,
		SyncTimeout:       n.cfg.SyncTimeout,
		FederationTimeout: n.cfg.FederationTimeout,
	}
}

// conditionalStore gives node/fleet the store's conditional publish in its
// own terms.
type conditionalStore struct{ s *store.Store }

func (c conditionalStore) PublishIfLast(ctx context.Context, ev events.Event, expect uint64) (uint64, error) {
	seq, err := c.s.PublishExpectLast(ctx, ev, expect)
	var conflict *store.ConflictError
	if errors.As(err, &conflict) {
		return 0, &fleet.ConflictError{Last: conflict.Last}
	}
	return seq, err
}

// waiter is the store's applied-sequence wait under node/fleet's name.
type waiter struct{ s *store.Store }

func (w waiter) Wait(ctx context.Context, seq uint64) error { return w.s.WaitApplied(ctx, seq) }

// fleetParts are what the fleet API runs on.
type fleetParts struct {
	secret  *auth.Secret
	service *fleet.Service
	feed    *fleet.Feed
	reaper  *fleet.Reaper
	// transitions counts the timer transitions this node stored.
	transitions prometheus.Counter
}

// newFleet builds the fleet API's parts on the node's store and projection.
func (n *Node) newFleet() (*fleetParts, error) {
	secret, err := auth.LoadSecret(n.cfg.Auth.InternalSecretFile)
	if err != nil {
		return nil, err
	}
	pol := n.decay()
	w := fleet.NewWriter(conditionalStore{n.store}, waiter{n.store}, n.proj, n.clock, n.cfg.HTTP.ApplyTimeout)
	svc := fleet.NewService(w, pol, n.cfg.NodeName)
	transitions := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "presenced_timer_transitions_total",
		Help: "Timer transitions (sync timeout, idle, offline timeout, federation timeout, currently_active ending) this node stored.",
	})
	reaper := fleet.NewReaper(fleet.ReaperConfig{Node: n.cfg.NodeName, Spread: reaperSpread(pol)},
		n.proj, w, svc.Expire(), n.clock, n.log, transitions.Inc)
	feed := fleet.NewFeed(n.proj, waiter{n.store}, n.store.LastSeq, n.store.Epoch)
	return &fleetParts{secret: secret, service: svc, feed: feed, reaper: reaper, transitions: transitions}, nil
}

// reaperSpread staggers the nodes' attempts at one transition by up to a
// tenth of the granularity (at most 500 ms), so that usually one node
// stores it; the others then find it done.
func reaperSpread(pol projection.Policy) time.Duration {
	return min(pol.Granularity()/10, 500*time.Millisecond)
}

// fleetDeps is the internal API's share of the HTTP API's collaborators.
func (n *Node) fleetDeps() httpapi.FleetDeps {
	if n.fleet == nil {
		return httpapi.FleetDeps{}
	}
	return httpapi.FleetDeps{
		Fleet:      n.fleet.service,
		Feed:       n.fleet.feed,
		Records:    n.proj,
		Secret:     n.fleet.secret,
		ServerName: n.cfg.ServerName,
	}
}

// startInternal opens the internal listener and serves h on it. Its
// requests' context ends when the node begins to shut down, so that long
// polls and event streams end instead of holding the shutdown up.
func (n *Node) startInternal(api *httpapi.API, h http.Handler) error {
	l := api.InternalListener()
	ln, err := l.Listen()
	if err != nil {
		return err
	}
	n.internalLn = ln
	n.internalSrv = l.Server(h, n.log)
	base, cancel := context.WithCancel(context.Background())
	n.internalCancel = cancel
	n.internalSrv.BaseContext = func(net.Listener) context.Context { return base }
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.internalSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("internal HTTP server stopped", "err", err)
		}
	}()
	return nil
}

// InternalAddr is the address the internal API listens on ("" when off).
func (n *Node) InternalAddr() string {
	if n.internalLn == nil {
		return ""
	}
	return n.internalLn.Addr().String()
}

// reloadSecret rereads the internal secret (SIGHUP), keeping the old one if
// the file cannot be read.
func (n *Node) reloadSecret() {
	if n.fleet == nil {
		return
	}
	if err := n.fleet.secret.Reload(); err != nil {
		n.log.Error("could not reload the internal secret; keeping the one in force", "err", err)
		return
	}
	n.log.Info("internal secret reloaded")
}

// fanOutReload passes each reload signal to the authenticator (through the
// returned channel) and reloads the internal secret, until ctx ends.
func (n *Node) fanOutReload(ctx context.Context, in <-chan os.Signal) <-chan os.Signal {
	if in == nil || n.fleet == nil {
		return in
	}
	out := make(chan os.Signal, 1)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-in:
				n.reloadSecret()
				select {
				case out <- sig:
				default:
				}
			}
		}
	}()
	return out
}
