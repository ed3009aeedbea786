package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"
)

// validateSecurity checks the authentication, visibility and limit settings.
func (c *Config) validateSecurity() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Auth {
	case AuthStatic, "":
	case AuthHomeserver:
		u, err := url.Parse(c.HomeserverURL)
		if c.HomeserverURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("--homeserver-url %q: want the homeserver's client API base URL, such as https://matrix.example.org", c.HomeserverURL)
		}
		if c.AuthCacheTTL < 0 || c.AuthNegativeCacheTTL < 0 {
			bad("--auth-cache-ttl and --auth-negative-cache-ttl must not be negative")
		}
		if c.AuthCacheSize < 1 {
			bad("--auth-cache-size %d: want at least 1", c.AuthCacheSize)
		}
		if c.AuthTimeout <= 0 {
			bad("--auth-timeout must be positive")
		}
	default:
		bad("--auth %q: want %s or %s", c.Auth, AuthStatic, AuthHomeserver)
	}
	if c.TokensReloadInterval < 0 {
		bad("--tokens-reload-interval must not be negative")
	}
	if c.Visibility != "" && !validVisibility(c.Visibility) {
		bad("--visibility %q: want %s, %s or %s", c.Visibility, VisibilityAuthenticated, VisibilitySameServer, VisibilitySelf)
	}
	if c.RateLimitPerSecond < 0 || c.AuthFailuresPerSecond < 0 {
		bad("--ratelimit-per-second and --ratelimit-auth-failures-per-second must not be negative")
	}
	if (c.RateLimitPerSecond > 0 && c.RateLimitBurst < 1) || (c.AuthFailuresPerSecond > 0 && c.AuthFailuresBurst < 1) {
		bad("--ratelimit-burst and --ratelimit-auth-failures-burst must be at least 1 when their rate is set")
	}
	if (c.RateLimitPerSecond > 0 || c.AuthFailuresPerSecond > 0) && c.RateLimitTableSize < 1 {
		bad("--ratelimit-table-size %d: want at least 1", c.RateLimitTableSize)
	}
	if c.MaxInFlight < 0 || c.MaxConnections < 0 {
		bad("--max-in-flight and --max-connections must not be negative (0: no cap)")
	}
	if c.MaxHeaderBytes < 1024 {
		bad("--max-header-bytes %d: want at least 1024", c.MaxHeaderBytes)
	}
	if c.HTTPReadHeaderTimeout <= 0 || c.HTTPReadTimeout <= 0 || c.HTTPWriteTimeout <= 0 || c.HTTPIdleTimeout <= 0 {
		bad("--http-read-header-timeout, --http-read-timeout, --http-write-timeout and --http-idle-timeout must be positive")
	}
	return errs
}

// newHTTPServer returns the HTTP server with the node's timeouts and caps.
// ReadHeaderTimeout is a deadline for the whole header, not per byte, so a
// client trickling a header (slowloris) is cut off when it passes; the
// server's own header cap is a backstop above MaxHeaderBytes, which the
// handler enforces with a Matrix error.
func (n *Node) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           n.router(),
		ReadHeaderTimeout: n.cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       n.cfg.HTTPReadTimeout,
		WriteTimeout:      n.writeTimeout(),
		IdleTimeout:       n.cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    2 * n.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
}

// writeTimeout is HTTPWriteTimeout, raised if need be above the longest a
// PUT may legitimately take (its publish and apply waits), so that a slow
// but successful write is never cut off before it can answer.
func (n *Node) writeTimeout() time.Duration {
	return max(n.cfg.HTTPWriteTimeout, n.cfg.PublishTimeout+n.cfg.ApplyTimeout+time.Second)
}

// limitListener caps the connections open at once: past the cap, new
// connections wait in the kernel's accept queue instead of costing a
// goroutine and buffers each.
func limitListener(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, max)
}

// isProbe reports whether path is a liveness, readiness or metrics
// endpoint: those are exempt from the in-flight cap, so that an overloaded
// node is not also killed by its orchestrator.
func isProbe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// limits is the middleware in front of the routes: it refuses requests
// whose headers exceed MaxHeaderBytes (413 M_TOO_LARGE) and requests beyond
// MaxInFlight concurrent ones (503 M_UNKNOWN with Retry-After), so that a
// flood queues in no goroutine of ours and holds no memory for long.
func (n *Node) limits(next http.Handler) http.Handler {
	var sem chan struct{}
	if n.cfg.MaxInFlight > 0 {
		sem = make(chan struct{}, n.cfg.MaxInFlight)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headerBytes(r) > n.cfg.MaxHeaderBytes {
			n.rejected.WithLabelValues("headers_too_large").Inc()
			writeError(w, Errorf(KindTooLarge, "Request headers are larger than %d bytes.", n.cfg.MaxHeaderBytes))
			return
		}
		if sem != nil && !isProbe(r.URL.Path) {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			default:
				n.rejected.WithLabelValues("busy").Inc()
				writeError(w, unavailable("Server is busy; try again.", time.Second, nil))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// headerBytes approximates the size of the request line and headers as
// sent.
func headerBytes(r *http.Request) int {
	size := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	size += len(r.Host) + 8
	return size
}

// initLimits builds the rate limiters and the counter of refused requests.
// Rate limits run on the system clock: the node's Clock is for queries.
func (n *Node) initLimits() {
	c := &n.cfg
	n.putLimits = newKeyedLimiter(c.RateLimitPerSecond, c.RateLimitBurst, c.RateLimitTableSize, time.Now)
	n.authFailures = newKeyedLimiter(c.AuthFailuresPerSecond, c.AuthFailuresBurst, c.RateLimitTableSize, time.Now)
	n.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_rejected_requests_total",
		Help: "Requests refused by a limit, by reason (busy, headers_too_large, put_rate, auth_failures).",
	}, []string{"reason"})
}

// registerLimitMetrics registers the limits' metrics, and the
// authenticator's if it has any, on the node's registry.
func (n *Node) registerLimitMetrics() error {
	cs := []prometheus.Collector{n.rejected}
	if m, ok := n.auth.(interface{ Collectors() []prometheus.Collector }); ok {
		cs = append(cs, m.Collectors()...)
	}
	for _, c := range cs {
		if err := n.reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				continue // an authenticator shared by nodes on one registry
			}
			return err
		}
	}
	return nil
}
