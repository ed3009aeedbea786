package httpapi

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
)

// Listener is how one listener accepts connections and bounds its clients.
// The client and internal listeners each have their own, so that a
// long-lived answer on one (an event stream) is not cut by the other's write
// timeout.
type Listener struct {
	Addr string
	// MaxConnections caps the connections open at once (0: no cap).
	MaxConnections int
	// MaxHeaderBytes is the cap the chain enforces with a Matrix error; the
	// server's own cap is a backstop above it.
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
}

// ClientListener is the client API's listener. Its write timeout is raised
// if need be above the longest a PUT may legitimately take (its publish and
// apply waits), so that a slow but successful write is never cut off before
// it can answer.
func (a *API) ClientListener() Listener {
	c := &a.cfg
	return Listener{
		Addr:              c.Listen,
		MaxConnections:    c.MaxConnections,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      max(c.WriteTimeout, a.d.PublishTimeout+c.ApplyTimeout+time.Second),
		IdleTimeout:       c.IdleTimeout,
	}
}

// InternalListener is the internal API's listener: the client listener's
// settings on InternalListen. Its event streams lift their own write
// deadline, so the write timeout still bounds every other answer.
func (a *API) InternalListener() Listener {
	l := a.ClientListener()
	l.Addr = a.cfg.InternalListen
	return l
}

// MetricsListener is the listener of MetricsListen, which serves /metrics
// and the probes: the client listener's timeouts, no connection cap (a
// scraper and a kubelet hold few connections, and a cap shared with nobody
// would only turn a probe away).
func (a *API) MetricsListener() Listener {
	l := a.ClientListener()
	l.Addr = a.cfg.MetricsListen
	l.MaxConnections = 0
	return l
}

// Listen opens the listener. Past MaxConnections, new connections wait in
// the kernel's accept queue instead of costing a goroutine and buffers each.
// Its connections' deadlines are applied by a watchdog (deadlines.go), which
// runs until the listener and its last connection are closed.
func (l Listener) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", l.Addr, err)
	}
	if l.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, l.MaxConnections)
	}
	return newDeadlineListener(ln, l.deadlineTick()), nil
}

// Server returns the HTTP server of h with the listener's timeouts.
// ReadHeaderTimeout is a deadline for the whole header, not per byte, so a
// client trickling a header (slowloris) is cut off when it passes.
func (l Listener) Server(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    2 * l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// CountConnections makes srv count its open connections, from accept to
// close (a hijacked connection stops counting when it is handed over), and
// returns the count's reader. It sets srv.ConnState.
func CountConnections(srv *http.Server) func() int64 {
	var open atomic.Int64
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	return open.Load
}
