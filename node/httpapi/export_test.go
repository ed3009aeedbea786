package httpapi

import "net/http"

// ClientMux is the client router without the fast path in front of it, for
// TestFastPathMatchesMux.
func (a *API) ClientMux() http.Handler {
	return a.clientMux(a.chain("presence_get", a.getStatus), a.chain("presence_put", a.putStatus))
}
