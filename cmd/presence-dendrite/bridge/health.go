package bridge

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The roles of a replica.
const (
	roleStarting = "starting"
	roleStandby  = "standby"
	roleLeader   = "leader"
)

// statusFields is what /readyz reports.
type statusFields struct {
	role       string
	feedOK     bool // the last change-feed request succeeded
	dendriteOK bool // Dendrite's sync consumer was found at the last publish
	reason     string
}

// status is the replica's state for the probes, written by its loops.
type status struct {
	mu sync.Mutex
	f  statusFields
}

func (s *status) set(update func(*statusFields)) {
	s.mu.Lock()
	update(&s.f)
	s.mu.Unlock()
}

func (s *status) get() statusFields {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// Ready reports whether the replica does its job: a standby is ready while
// NATS is connected (it can take over); the leader while, in addition, the
// change feed answers and Dendrite's sync consumer exists. It gives the
// reason when not.
func (b *Bridge) Ready() (bool, string) {
	f := b.status.get()
	switch {
	case !b.nc.IsConnected():
		return false, "not connected to NATS"
	case f.role == roleStarting:
		return false, f.reason
	case f.role == roleStandby:
		return f.reason == "", f.reason
	case !f.feedOK || !f.dendriteOK:
		return false, f.reason
	}
	return true, ""
}

// Handler serves /healthz (the process runs), /readyz (Ready, with the role)
// and /metrics (the given gatherer's metrics).
func (b *Bridge) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, reason := b.Ready()
		body := map[string]any{"ready": ok, "role": b.status.get().role}
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
			body["reason"] = reason
		}
		writeJSON(w, code, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
