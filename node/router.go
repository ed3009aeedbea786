package node

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// router builds the HTTP routes. Everything a client can reach answers
// application/json, with CORS headers as a homeserver sends them.
func (n *Node) router() http.Handler {
	r := mux.NewRouter()
	// No path cleaning or redirects: a path with "..", "//" or an encoded
	// "/" is answered as it was sent (see matchPresencePath), with a Matrix
	// error if it names nothing.
	r.SkipClean(true)
	r.MatcherFunc(matchPresencePath).Methods(http.MethodGet).Handler(n.api("presence_get", n.getStatus)).Name("presence_get")
	r.MatcherFunc(matchPresencePath).Methods(http.MethodPut).Handler(n.api("presence_put", n.putStatus)).Name("presence_put")
	r.HandleFunc("/healthz", n.healthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", n.readyz).Methods(http.MethodGet, http.MethodHead)
	if n.gatherer != nil {
		r.Handle("/metrics", promhttp.HandlerFor(n.gatherer, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	}
	r.NotFoundHandler = n.api("unrecognized", func(http.ResponseWriter, *http.Request) error {
		return Errorf(KindUnrecognized, "Unrecognized request")
	})
	r.MethodNotAllowedHandler = n.api("method_not_allowed", func(w http.ResponseWriter, req *http.Request) error {
		w.Header().Set("Allow", allowedMethods(r, req))
		return Errorf(KindMethodNotAllowed, "Unrecognized request")
	})
	return n.limits(cors(r))
}

// api wraps a handler: it turns a returned error into a Matrix error body,
// logs unexpected failures and records metrics under route.
func (n *Node) api(route string, h handler) http.Handler {
	durations := n.metrics.requestDuration.MustCurryWith(map[string]string{"route": route})
	counts := n.metrics.requests.MustCurryWith(map[string]string{"route": route})
	// Resolving label values costs a hash and a lock per request; resolve
	// each (method, code) pair once.
	var observers, counters sync.Map
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if err := h(sw, r); err != nil {
			status, errcode := writeError(sw, err)
			if status >= 500 {
				n.log.Warn("request failed", "route", route, "method", r.Method, "status", status, "errcode", errcode, "err", err)
			}
		}
		method := methodLabel(r.Method)
		o, ok := observers.Load(method)
		if !ok {
			o, _ = observers.LoadOrStore(method, durations.WithLabelValues(method))
		}
		o.(prometheus.Observer).Observe(time.Since(start).Seconds())
		key := methodCode{method, sw.status}
		c, ok := counters.Load(key)
		if !ok {
			c, _ = counters.LoadOrStore(key, counts.WithLabelValues(method, strconv.Itoa(sw.status)))
		}
		c.(prometheus.Counter).Inc()
	})
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

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Header values shared by every response; net/http only reads them. Keys are
// in canonical form, so they are assigned without canonicalising again.
var (
	corsOrigin  = []string{"*"}
	corsMethods = []string{"GET, HEAD, POST, PUT, DELETE, OPTIONS"}
	corsHeaders = []string{"X-Requested-With, Content-Type, Authorization"}
)

// cors adds the CORS headers that Matrix clients in browsers rely on, and
// answers every preflight (OPTIONS) request itself, without authentication.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Access-Control-Allow-Origin"] = corsOrigin
		h["Access-Control-Allow-Methods"] = corsMethods
		h["Access-Control-Allow-Headers"] = corsHeaders
		if r.Method == http.MethodOptions {
			writeJSON(w, http.StatusOK, struct{}{})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedMethods lists the methods router serves on req's path, for the
// Allow header that a 405 answer must carry (RFC 9110, section 15.5.6).
// OPTIONS is always allowed: cors answers it.
func allowedMethods(router *mux.Router, req *http.Request) string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch} {
		probe := new(http.Request)
		*probe = *req
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	return strings.Join(append(allowed, http.MethodOptions), ", ")
}
