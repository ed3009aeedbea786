package httpapi

import "net/http"

// healthz is the liveness probe: the process is up.
func (a *API) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz is the readiness probe: connected to NATS and caught up with the
// stream, and not shutting down.
func (a *API) readyz(w http.ResponseWriter, _ *http.Request) error {
	if ok, why := a.d.Health.Readiness(); !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": why})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
