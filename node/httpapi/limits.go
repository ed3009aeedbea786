package httpapi

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/node/apierr"
)

// limits refuses requests whose headers exceed maxHeaderBytes (413
// M_TOO_LARGE) and requests beyond maxInFlight concurrent ones (503 M_UNKNOWN
// with Retry-After), so that a flood queues in no goroutine of ours and
// holds no memory for long.
type limits struct {
	maxHeaderBytes int
	sem            chan struct{} // nil: no cap on requests in flight
	rejected       *prometheus.CounterVec
}

func newLimits(maxInFlight, maxHeaderBytes int, rejected *prometheus.CounterVec) *limits {
	l := &limits{maxHeaderBytes: maxHeaderBytes, rejected: rejected}
	if maxInFlight > 0 {
		l.sem = make(chan struct{}, maxInFlight)
	}
	return l
}

// admit admits r, or returns the error to answer it with. When held is
// true, r holds an in-flight slot, which release gives back once r is
// answered.
func (l *limits) admit(r *http.Request) (held bool, err error) {
	if headerBytes(r) > l.maxHeaderBytes {
		l.rejected.WithLabelValues("headers_too_large").Inc()
		return false, apierr.Errorf(apierr.KindTooLarge, "Request headers are larger than %d bytes.", l.maxHeaderBytes)
	}
	if l.sem == nil || isProbe(r.URL.Path) {
		return false, nil
	}
	select {
	case l.sem <- struct{}{}:
		return true, nil
	default:
		l.rejected.WithLabelValues("busy").Inc()
		return false, apierr.Unavailable("Server is busy; try again.", time.Second, nil)
	}
}

// release gives back the in-flight slot of an admitted request that held one.
func (l *limits) release(held bool) {
	if held {
		<-l.sem
	}
}

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
