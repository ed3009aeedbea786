package httpapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/presenced/presenced/node/reqmetrics"
)

// handler is an HTTP handler that reports failure as an error, which the
// chain turns into a Matrix error answer.
type handler func(w http.ResponseWriter, r *http.Request) error

// chain is the one middleware in front of every handler, in this order:
//
//  1. Access-Control-Allow-Origin, on every answer to a CORS request (errors
//     from the limits included): the header a browser checks on an answer.
//     A browser sends Origin on every CORS request (Fetch standard, "CORS
//     protocol") and reads the header on no other answer, so homeservers,
//     bots and native clients, which send no Origin, get answers without
//     it. No cache can hand a browser an answer kept from such a request:
//     every answer is Cache-Control: no-store;
//  2. the limits: headers over MaxHeaderBytes are 413 M_TOO_LARGE, requests
//     beyond MaxInFlight are 503 with Retry-After (probes are spared);
//  3. the preflight (OPTIONS) answer, without authentication, which adds
//     Access-Control-Allow-Methods and -Headers: a browser reads those
//     from a preflight's answer only (Fetch standard, "CORS protocol"), so
//     other answers go without them, 110 bytes shorter;
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
		if isCORSRequest(r) {
			setCORS(w.Header())
		}
		start := time.Now()
		sw := newStatusWriter(w)
		defer sw.free()
		release, err := lim.admit(r)
		if err != nil {
			writeError(sw, err)
		} else {
			if r.Method == http.MethodOptions {
				setPreflight(w.Header())
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
	m     *reqmetrics.Metrics
	route string
	// Each (method, code)'s series is looked up in m once.
	series sync.Map // methodCode → *reqmetrics.Series
}

func (a *API) recorder(route string) *recorder {
	if route == "" {
		return nil
	}
	return &recorder{m: a.d.Metrics.Requests, route: route}
}

// record counts one answer; a nil recorder records nothing.
func (rec *recorder) record(method string, status int, start time.Time) {
	if rec == nil {
		return
	}
	key := methodCode{methodIndex(method), status}
	s, ok := rec.series.Load(key)
	if !ok {
		s, _ = rec.series.LoadOrStore(key, rec.m.Series(rec.route, methodLabels[key.method], status))
	}
	s.(*reqmetrics.Series).Observe(time.Since(start))
}

type methodCode struct {
	method, code int
}

// methodLabels bound the method label to known methods, whatever a client
// sends; the last stands for every other method.
var methodLabels = [...]string{
	http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete,
	http.MethodHead, http.MethodOptions, http.MethodPatch, "OTHER",
}

// methodIndex is the index of m's label in methodLabels.
func methodIndex(m string) int {
	known := methodLabels[:len(methodLabels)-1]
	for i, l := range known {
		if m == l {
			return i
		}
	}
	return len(known)
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

// isCORSRequest tells a request a browser's CORS protocol applies to: one
// with an Origin header, or a preflight (which browsers send with Origin;
// one without is answered as if it had it).
func isCORSRequest(r *http.Request) bool {
	_, origin := r.Header["Origin"]
	return origin || r.Method == http.MethodOptions
}

// setCORS adds the CORS header of every answer to a CORS request.
func setCORS(h http.Header) {
	h["Access-Control-Allow-Origin"] = corsOrigin
}

// setPreflight adds the headers of a preflight's answer beside setCORS's:
// the methods and request headers the Matrix spec recommends allowing.
func setPreflight(h http.Header) {
	h["Access-Control-Allow-Methods"] = corsMethods
	h["Access-Control-Allow-Headers"] = corsHeaders
}
