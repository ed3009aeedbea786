package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/apierr"
	"github.com/presenced/presenced/node/httpapi"
	"github.com/presenced/presenced/node/reqmetrics"
	"github.com/presenced/presenced/projection"
)

// The API is built here from stand-ins of its interfaces that hold no
// state: these tests are about the chain and the routers, which need no
// store. The presence handlers are tested against real nodes (node/apitest).
type noAuth struct{}

func (noAuth) Authenticate(context.Context, string) (httpapi.Requester, error) {
	return httpapi.Requester{}, apierr.Errorf(apierr.KindUnknownToken, "Unrecognised access token")
}
func (noAuth) Known(string) (httpapi.Requester, bool) { return httpapi.Requester{}, false }

type allow struct{}

func (allow) CheckVisible(string, string) error { return nil }
func (allow) CheckOwnServer(string) error       { return nil }

type empty struct{}

func (empty) Publish(context.Context, events.Event) (uint64, error) { return 0, nil }
func (empty) LastSeq(context.Context) (uint64, error)               { return 0, nil }
func (empty) ReadBarrier(context.Context) (uint64, error)           { return 0, nil }
func (empty) LatestOf(context.Context, string) (uint64, time.Time, events.Event, bool, error) {
	return 0, time.Time{}, events.Event{}, false, nil
}
func (empty) Resync()                                   {}
func (empty) WaitApplied(context.Context, uint64) error { return nil }
func (empty) Status(string, time.Time, projection.Policy) (projection.Status, bool) {
	return projection.Status{}, false
}
func (empty) AppliedSeq() uint64        { return 0 }
func (empty) Serving() bool             { return true }
func (empty) Readiness() (bool, string) { return true, "" }
func (empty) Now() time.Time            { return time.Unix(1e9, 0) }

func newAPI(t *testing.T, mutate func(*httpapi.Config)) (*httpapi.API, httpapi.Metrics) {
	t.Helper()
	m := httpapi.Metrics{
		Requests:        reqmetrics.New("requests", "", "duration", "", prometheus.DefBuckets),
		Publishes:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "publishes"}, []string{"result"}),
		PublishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "publish_duration"}),
		Rejected:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rejected"}, []string{"reason"}),
	}
	cfg := httpapi.DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	a := httpapi.New(cfg, httpapi.Deps{
		Auth: noAuth{}, Policy: allow{}, Publisher: empty{}, Stream: empty{}, Presence: empty{},
		Health: empty{}, Clock: empty{}, Logger: slog.New(slog.DiscardHandler), Metrics: m,
	})
	return a, m
}

// TestLimitAnswersCarryCORSAndAreCounted: a 413 from the header cap is a
// Matrix error with the CORS headers, counted under its route like any
// other answer.
func TestLimitAnswersCarryCORSAndAreCounted(t *testing.T) {
	a, m := newAPI(t, func(c *httpapi.Config) { c.MaxHeaderBytes = 1024 })
	req := httptest.NewRequest(http.MethodGet, "/_matrix/client/v3/presence/@alice:example.org/status", nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 2048))
	req.Header.Set("Origin", "https://app.example.org")
	w := httptest.NewRecorder()
	a.ClientHandler().ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), `"M_TOO_LARGE"`) {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", w.Header())
	}
	if got := m.Requests.Series("presence_get", "GET", 413).Count(); got != 1 {
		t.Fatalf("presence_get 413 counted %v times", got)
	}
	if got := counterValue(t, m.Rejected.WithLabelValues("headers_too_large")); got != 1 {
		t.Fatalf("rejections counted %v times", got)
	}
}

// TestInternalHandler: the internal router answers the probes and, for
// anything else, M_UNRECOGNIZED through the same chain.
func TestInternalHandler(t *testing.T) {
	a, m := newAPI(t, nil)
	h := a.InternalHandler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/_matrix/client/v3/presence/@alice:example.org/status", nil)
	req.Header.Set("Origin", "https://app.example.org")
	h.ServeHTTP(w, req)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"M_UNRECOGNIZED"`) || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("client path on the internal router: %d %s", w.Code, w.Body)
	}
	if got := m.Requests.Series("unrecognized", "GET", 404).Count(); got != 1 {
		t.Fatalf("unrecognized counted %v times", got)
	}
}

// counterValue reads a counter through a registry (as a scrape would).
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gather: %v %v", mfs, err)
	}
	return mfs[0].GetMetric()[0].GetCounter().GetValue()
}

// TestCORSOnCORSRequestsOnly: the same answer carries
// Access-Control-Allow-Origin when the request has an Origin header, and not
// when it has none; a preflight carries the whole CORS set either way, and
// every answer is no-store (so that no cache keeps one answer for both kinds
// of request).
func TestCORSOnCORSRequestsOnly(t *testing.T) {
	a, _ := newAPI(t, nil)
	h := a.ClientHandler()
	for _, c := range []struct {
		method, origin          string
		wantOrigin, wantMethods bool
	}{
		{http.MethodGet, "https://app.example.org", true, false},
		{http.MethodGet, "null", true, false}, // a sandboxed or file: page
		{http.MethodGet, "", false, false},
		{http.MethodOptions, "https://app.example.org", true, true},
		{http.MethodOptions, "", true, true},
	} {
		req := httptest.NewRequest(c.method, "/_matrix/client/v3/presence/@alice:example.org/status", nil)
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		_, gotOrigin := w.Header()["Access-Control-Allow-Origin"]
		_, gotMethods := w.Header()["Access-Control-Allow-Methods"]
		if gotOrigin != c.wantOrigin || gotMethods != c.wantMethods || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s with Origin %q: %d %v", c.method, c.origin, w.Code, w.Header())
		}
	}
}
