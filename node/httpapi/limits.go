package httpapi

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/node/apierr"
)

// limits refuses requests whose headers exceed maxHeaderBytes (413
// M_TOO_LARGE) and requests beyond maxInFlight concurrent ones (503 M_UNKNOWN
// with Retry-After), so that a flood queues in no goroutine of ours and
// holds no memory for long. It counts the requests in flight (probes
// excepted) whether or not they are capped, for the in-flight gauge.
type limits struct {
	maxHeaderBytes int
	maxInFlight    int64 // 0: no cap on requests in flight
	inFlight       atomic.Int64
	rejected       *prometheus.CounterVec
	// releaseFn is l.release, bound once rather than on every request.
	releaseFn func()
}

func newLimits(maxInFlight, maxHeaderBytes int, rejected *prometheus.CounterVec) *limits {
	l := &limits{maxHeaderBytes: maxHeaderBytes, maxInFlight: int64(max(maxInFlight, 0)), rejected: rejected}
	l.releaseFn = l.release
	return l
}

func noRelease() {}

// admit admits r, or returns the error to answer it with. release must be
// called once the request is answered.
func (l *limits) admit(r *http.Request) (release func(), err error) {
	if headerBytes(r) > l.maxHeaderBytes {
		l.rejected.WithLabelValues("headers_too_large").Inc()
		return noRelease, apierr.Errorf(apierr.KindTooLarge, "Request headers are larger than %d bytes.", l.maxHeaderBytes)
	}
	if isProbe(r.URL.Path) {
		return noRelease, nil
	}
	if l.maxInFlight == 0 {
		l.inFlight.Add(1)
		return l.releaseFn, nil
	}
	// A compare-and-swap rather than add-then-undo: a request refused at
	// the cap must never count, even for an instant, against another.
	for {
		n := l.inFlight.Load()
		if n >= l.maxInFlight {
			l.rejected.WithLabelValues("busy").Inc()
			return noRelease, apierr.Unavailable("Server is busy; try again.", time.Second, nil)
		}
		if l.inFlight.CompareAndSwap(n, n+1) {
			return l.releaseFn, nil
		}
	}
}

func (l *limits) release() { l.inFlight.Add(-1) }

// InFlight is how many client API requests are being served now (probes and
// /metrics are not counted).
func (a *API) InFlight() int64 { return a.limits.inFlight.Load() }

// isProbe reports whether path is a liveness, readiness or metrics
// endpoint: those are exempt from the in-flight cap, so that an overloaded
// node is not also killed by its orchestrator.
func isProbe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
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
