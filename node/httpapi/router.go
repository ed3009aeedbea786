package httpapi

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/presenced/presenced/node/apierr"
)

// ClientHandler is the handler of the client listener: the presence API,
// the probes and /metrics (unless MetricsListen serves it). Everything a client can reach answers
// application/json, with CORS headers as a homeserver sends them.
func (a *API) ClientHandler() http.Handler {
	get, put := a.chain("presence_get", a.getStatus), a.chain("presence_put", a.putStatus)
	return &presenceFastPath{mux: a.clientMux(get, put), get: get, put: put}
}

// clientMux is the client listener's router with the presence handlers get
// and put. It answers everything the fast path in front of it does not
// (see presenceFastPath).
func (a *API) clientMux(get, put http.Handler) *mux.Router {
	r := a.newRouter()
	r.MatcherFunc(matchPresencePath).Methods(http.MethodGet).Handler(get).Name("presence_get")
	r.MatcherFunc(matchPresencePath).Methods(http.MethodPut).Handler(put).Name("presence_put")
	a.probes(r)
	return r
}

// InternalHandler is the handler of the internal listener, which serves
// other components of a homeserver fleet rather than clients. It has the
// same chain as the client listener, the probes and /metrics (unless
// MetricsListen serves it); every other path is M_UNRECOGNIZED.
func (a *API) InternalHandler() http.Handler {
	r := a.newRouter()
	a.probes(r)
	if a.f.Fleet != nil {
		in := func(route string, h handler) http.Handler { return a.chainWith(a.internalLimits, route, h) }
		r.Handle(routeFleetSync, in("fleet_sync", a.fleetSync)).Methods(http.MethodPost)
		r.Handle(routeFleetActive, in("fleet_active", a.fleetActive)).Methods(http.MethodPost)
		r.Handle(routeFleetChanges, in("fleet_changes", a.fleetChanges)).Methods(http.MethodGet)
		r.Handle(routeFleetQuery, in("fleet_query", a.fleetQuery)).Methods(http.MethodPost)
		r.Handle(routeFleetFederation, in("fleet_federation", a.fleetFederation)).Methods(http.MethodPost)
		r.Handle(routeFleetMirrorSync, in("fleet_mirror_sync", a.fleetMirrorSync)).Methods(http.MethodGet)
	}
	return r
}

// MetricsHandler is the handler of the metrics listener (MetricsListen):
// /metrics and the probes; every other path is M_UNRECOGNIZED.
func (a *API) MetricsHandler() http.Handler {
	r := a.newRouter()
	a.probes(r)
	a.metrics(r)
	return r
}

// newRouter returns a router whose unmatched requests answer Matrix errors
// through the chain.
func (a *API) newRouter() *mux.Router {
	r := mux.NewRouter()
	// No path cleaning or redirects: a path with "..", "//" or an encoded
	// "/" is answered as it was sent (see matchPresencePath), with a Matrix
	// error if it names nothing.
	r.SkipClean(true)
	r.NotFoundHandler = a.chain("unrecognized", func(http.ResponseWriter, *http.Request) error {
		return apierr.Errorf(apierr.KindUnrecognized, "Unrecognized request")
	})
	r.MethodNotAllowedHandler = a.chain("method_not_allowed", func(w http.ResponseWriter, req *http.Request) error {
		w.Header().Set("Allow", allowedMethods(r, req))
		return apierr.Errorf(apierr.KindMethodNotAllowed, "Unrecognized request")
	})
	return r
}

// probes adds the liveness and readiness probes, and /metrics unless a
// listener of its own serves it. They pass through the chain (CORS, the
// header cap) but are not counted, and the in-flight cap spares them (see
// isProbe).
func (a *API) probes(r *mux.Router) {
	r.Handle("/healthz", a.chain("", a.healthz)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", a.chain("", a.readyz)).Methods(http.MethodGet, http.MethodHead)
	if a.cfg.MetricsListen == "" {
		a.metrics(r)
	}
}

// metrics adds /metrics, served from Deps.Gatherer (none when nil).
func (a *API) metrics(r *mux.Router) {
	if a.d.Gatherer != nil {
		metrics := promhttp.HandlerFor(a.d.Gatherer, promhttp.HandlerOpts{})
		r.Handle("/metrics", a.chain("", func(w http.ResponseWriter, r *http.Request) error {
			// no-store like every other answer (see setJSONHeaders).
			w.Header()["Cache-Control"] = noStore
			metrics.ServeHTTP(w, r)
			return nil
		})).Methods(http.MethodGet)
	}
}

// allowedMethods lists the methods router serves on req's path, for the
// Allow header that a 405 answer must carry (RFC 9110, section 15.5.6).
// OPTIONS is always allowed: the chain answers it.
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
