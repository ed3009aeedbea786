package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/presenced/presenced/node/httpapi"
)

// TestFastPathMatchesMux: the client handler, whose presence GETs and PUTs
// skip mux, answers every request exactly as the mux router alone does:
// status, headers (Allow of a 405 included) and body, for the presence
// path in every method and for paths that nearly match it.
func TestFastPathMatchesMux(t *testing.T) {
	// Without the failure limiter, every request reaches the handlers.
	a, _ := newAPI(t, func(c *httpapi.Config) { c.AuthFailuresPerSecond = 0 })
	fast, plain := a.ClientHandler(), a.ClientMux()
	paths := []string{
		"/_matrix/client/v3/presence/@alice:example.org/status",
		"/_matrix/client/r0/presence/@alice:example.org/status",
		"/_matrix/client/v3/presence/%40alice%3Aexample.org/status",
		"/_matrix/client/v3/presence/@we%2Fird:example.org/status",
		"/_matrix/client/v3/presence/@alice:example.org/status?access_token=x&consistent=true",
		"/_matrix/client/v3/presence//status",
		"/_matrix/client/v3/presence/a/b/status",
		"/_matrix/client/v3/presence/@alice:example.org/status/",
		"/_matrix/client/v3/presence/@alice:example.org",
		"/_matrix/client/v2/presence/@alice:example.org/status",
		"/_matrix/client/v3/presence/../presence/@alice:example.org/status",
		"//_matrix/client/v3/presence/@alice:example.org/status",
		"/_matrix/client/v3/Presence/@alice:example.org/status",
		"/_matrix/client/v3",
		"/_matrix/client/",
		"/healthz", "/readyz", "/metrics", "/", "/nothing",
		"http://example.org/_matrix/client/v3/presence/@alice:example.org/status",
	}
	methods := []string{http.MethodGet, http.MethodPut, http.MethodHead, http.MethodPost, http.MethodDelete, http.MethodPatch, http.MethodOptions, "BREW"}
	for _, p := range paths {
		for _, m := range methods {
			var body string
			if m == http.MethodPut {
				body = `{"presence":"online"}`
			}
			answer := func(h http.Handler) *httptest.ResponseRecorder {
				req := httptest.NewRequest(m, p, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer some-token")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				return w
			}
			got, want := answer(fast), answer(plain)
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Errorf("%s %s: fast path %d %s, mux %d %s", m, p, got.Code, got.Body, want.Code, want.Body)
			}
			for k := range want.Header() {
				if g, w := strings.Join(got.Header()[k], ","), strings.Join(want.Header()[k], ","); g != w {
					t.Errorf("%s %s: header %s: fast path %q, mux %q", m, p, k, g, w)
				}
			}
			if len(got.Header()) != len(want.Header()) {
				t.Errorf("%s %s: fast path headers %v, mux %v", m, p, got.Header(), want.Header())
			}
		}
	}
	// The cases above must reach the presence handlers, not only errors of
	// the router: an unknown token is the handlers' answer.
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, paths[0], nil)
	req.Header.Set("Authorization", "Bearer some-token")
	fast.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "M_UNKNOWN_TOKEN") {
		t.Fatalf("GET of the presence path: %d %s", w.Code, w.Body)
	}
}
