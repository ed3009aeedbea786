package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// handler is an HTTP handler that reports failure as an error, which the
// chain turns into a Matrix error answer.
type handler func(w http.ResponseWriter, r *http.Request) error

// chain is the one middleware in front of every handler, in this order:
//
//  1. the CORS headers that Matrix clients in browsers rely on, on every
//     answer (errors from the limits included);
//  2. the limits: headers over MaxHeaderBytes are 413 M_TOO_LARGE, requests
//     beyond MaxInFlight are 503 with Retry-After (probes are spared);
//  3. the preflight (OPTIONS) answer, without authentication;
//  4. h, whose returned error becomes a Matrix error (logged when 5xx);
//  5. the request metrics under route, for every answer but a preflight.
//     An empty route records none (the probes).
func (a *API) chain(route string, h handler) http.Handler {
	return a.chainWith(a.limits, route, h)
}

// chainWith is chain under the limits lim (the internal listener has its
// own: long polls and event streams must not use up the client API's
// in-flight cap).
func (a *API) chainWith(lim *limits, route string, h handler) http.Handler {
	rec := a.recorder(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setCORS(w.Header())
		start := time.Now()
		sw := newStatusWriter(w)
		defer sw.free()
		release, err := lim.admit(r)
		if err != nil {
			writeError(sw, err)
		} else {
			if r.Method == http.MethodOptions {
				writeJSON(w, http.StatusOK, struct{}{})
				release()
				return
			}
			err = h(sw, r)
			release()
			if err != nil {
				status, errcode := writeError(sw, err)
				if status >= 500 {
					a.d.Logger.Warn("request failed", "route", route, "method", r.Method, "status", status, "errcode", errcode, "err", err)
				}
			}
		}
		rec.record(r.Method, sw.status, start)
	})
}

// recorder records the metrics of one route.
type recorder struct {
	durations prometheus.ObserverVec
	counts    *prometheus.CounterVec
	// Resolving label values costs a hash and a lock per request; each
	// (method, code) pair is resolved once.
	observers, counters sync.Map
}

func (a *API) recorder(route string) *recorder {
	if route == "" {
		return nil
	}
	return &recorder{
		durations: a.d.Metrics.RequestDuration.MustCurryWith(prometheus.Labels{"route": route}),
		counts:    a.d.Metrics.Requests.MustCurryWith(prometheus.Labels{"route": route}),
	}
}

// record counts one answer; a nil recorder records nothing.
func (rec *recorder) record(method string, status int, start time.Time) {
	if rec == nil {
		return
	}
	method = methodLabel(method)
	o, ok := rec.observers.Load(method)
	if !ok {
		o, _ = rec.observers.LoadOrStore(method, rec.durations.WithLabelValues(method))
	}
	o.(prometheus.Observer).Observe(time.Since(start).Seconds())
	key := methodCode{method, status}
	c, ok := rec.counters.Load(key)
	if !ok {
		c, _ = rec.counters.LoadOrStore(key, rec.counts.WithLabelValues(method, strconv.Itoa(status)))
	}
	c.(prometheus.Counter).Inc()
}

type methodCode struct {
	method string
	code   int
}

// methodLabel bounds the method label to known methods, whatever a client sends.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodOptions, http.MethodPatch:
		return m
	}
	return "OTHER"
}

// statusWriter remembers the status code written. It also lends its
// handler a buffer for the answer's body (scratch). Both live in a pool, as
// the chain needs one per request: net/http forbids using a
// ResponseWriter once its handler has returned, so the chain can reuse it.
type statusWriter struct {
	http.ResponseWriter
	status int
	buf    []byte
}

var statusWriters = sync.Pool{New: func() any { return &statusWriter{buf: make([]byte, 0, 256)} }}

func newStatusWriter(w http.ResponseWriter) *statusWriter {
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.status = w, http.StatusOK
	return sw
}

// free returns s to the pool.
func (s *statusWriter) free() {
	s.ResponseWriter = nil
	statusWriters.Put(s)
}

// scratch returns an empty buffer for an answer's body written to w: the
// chain's, which a later request reuses once this one is answered, or a new
// one when w is not the chain's. An answer longer than the buffer grows a
// copy of its own.
func scratch(w http.ResponseWriter) []byte {
	if sw, ok := w.(*statusWriter); ok {
		return sw.buf[:0]
	}
	return make([]byte, 0, 256)
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (to flush an
// event stream, or lift its write deadline).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Header values shared by every response; net/http only reads them. Keys are
// in canonical form, so they are assigned without canonicalising again.
var (
	corsOrigin  = []string{"*"}
	corsMethods = []string{"GET, HEAD, POST, PUT, DELETE, OPTIONS"}
	corsHeaders = []string{"X-Requested-With, Content-Type, Authorization"}
)

// setCORS adds the CORS headers a homeserver sends.
func setCORS(h http.Header) {
	h["Access-Control-Allow-Origin"] = corsOrigin
	h["Access-Control-Allow-Methods"] = corsMethods
	h["Access-Control-Allow-Headers"] = corsHeaders
}
