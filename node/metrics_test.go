package node_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// series reads the node's metrics (as a scrape would) into "name{l="v",...}"
// → value, labels sorted by name.
func series(t *testing.T, n *nodetest.Node) map[string]float64 {
	t.Helper()
	mfs, err := n.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// wantSeries fails unless every series in want exists with its value.
func wantSeries(got map[string]float64, want map[string]float64) error {
	var errs []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			errs = append(errs, k+" missing")
		} else if g != v {
			errs = append(errs, fmt.Sprintf("%s = %v, want %v", k, g, v))
		}
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func withVersion(v string) nodetest.Option {
	return func(_ *node.Config, o *node.Options) { o.Version = v }
}

// TestMetricsBuildInfoAndZeroSeries: a node that has served nothing exports
// its build and every known label value of its labelled counters at zero,
// so that rate() alerts see them before the first occurrence.
func TestMetricsBuildInfoAndZeroSeries(t *testing.T) {
	n := nodetest.StartNode(t, withVersion("1.2.3-test"))
	want := map[string]float64{
		fmt.Sprintf(`presenced_build_info{goversion=%q,version="1.2.3-test"}`, runtime.Version()): 1,
		`presenced_publish_total{result="ok"}`:                                                    0,
		`presenced_publish_total{result="error"}`:                                                 0,
		`presenced_mirror_syncs_total{result="recorded"}`:                                         0,
		`presenced_mirror_syncs_total{result="unauthenticated"}`:                                  0,
		`presenced_federation_items_total{result="accepted"}`:                                     0,
		`presenced_federation_items_total{result="rejected"}`:                                     0,
	}
	for _, r := range []string{"busy", "headers_too_large", "put_rate", "auth_failures"} {
		want[fmt.Sprintf(`presenced_rejected_requests_total{reason=%q}`, r)] = 0
	}
	for _, c := range []string{"sync", "active", "federation"} {
		for _, r := range []string{"stored", "absorbed", "busy", "error"} {
			want[fmt.Sprintf(`presenced_fleet_commands_total{command=%q,result=%q}`, c, r)] = 0
		}
	}
	if err := wantSeries(series(t, n), want); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsHTTPGauges: the caps are exported as set; a request held in
// flight (its body not yet sent) and raw connections are counted while they
// last, and no longer once they end.
func TestMetricsHTTPGauges(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.MaxInFlight = 7
		c.HTTP.MaxConnections = 9
	}))
	gauges := func(inFlight, conns float64) func() error {
		return func() error {
			return wantSeries(series(t, n), map[string]float64{
				"presenced_http_in_flight_requests":     inFlight,
				"presenced_http_max_in_flight_requests": 7,
				"presenced_http_open_connections":       conns,
				"presenced_http_max_connections":        9,
			})
		}
	}
	nodetest.Eventually(t, 10*time.Second, gauges(0, 0))

	idle, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	held, err := net.Dial("tcp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// The PUT passes authentication and waits for its body.
	if _, err := fmt.Fprintf(held, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
		nodetest.PresencePath("@alice:example.org")); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, 10*time.Second, gauges(1, 2))

	held.Close()
	idle.Close()
	nodetest.Eventually(t, 10*time.Second, gauges(0, 0))
}

// TestMetricsUsersByState: users are counted by the state a GET answers at
// the node's clock, decay included, and the count follows the clock.
func TestMetricsUsersByState(t *testing.T) {
	clock := nodetest.NewClock(time.Now())
	n := nodetest.StartNode(t, nodetest.WithClock(clock))
	for token, state := range map[string]string{"alice-token": "online", "bob-token": "unavailable", "carol-token": "offline"} {
		user := nodetest.Tokens[token]
		if r := n.Put(t, token, user, map[string]any{"presence": state}); r.Status != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", user, r.Status, r.Body)
		}
	}
	byState := func(online, unavailable, offline float64) func() error {
		return func() error {
			return wantSeries(series(t, n), map[string]float64{
				`presenced_projection_users_by_state{state="online"}`:      online,
				`presenced_projection_users_by_state{state="unavailable"}`: unavailable,
				`presenced_projection_users_by_state{state="offline"}`:     offline,
			})
		}
	}
	nodetest.Eventually(t, 15*time.Second, byState(1, 1, 1))
	// Past --idle-timeout (5 min), alice reads unavailable; the count is
	// cached for a few seconds, then follows.
	clock.Set(time.Now().Add(10 * time.Minute))
	nodetest.Eventually(t, 15*time.Second, byState(0, 2, 1))
	// Past --offline-timeout (30 min), everyone reads offline.
	clock.Set(time.Now().Add(time.Hour))
	nodetest.Eventually(t, 15*time.Second, byState(0, 0, 3))
}

// TestMetricsReplayDuration: a node restarted on a stream of users reports
// how long its replay took once it has caught up.
func TestMetricsReplayDuration(t *testing.T) {
	dir := t.TempDir()
	first := nodetest.StartNode(t, nodetest.WithDataDir(dir))
	if r := first.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online"}); r.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n := nodetest.StartNode(t, nodetest.WithDataDir(dir))
	got := series(t, n)["presenced_replay_duration_seconds"]
	if got <= 0 || got > 30 {
		t.Fatalf("presenced_replay_duration_seconds = %v after the replay", got)
	}
}

// TestMetricsListener: with --metrics-listen, /metrics and the probes are
// served there; the client and internal listeners keep the probes but no
// longer serve /metrics.
func TestMetricsListener(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithFleet(t), nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.MetricsListen = "127.0.0.1:0"
	}))
	metricsURL := "http://" + n.MetricsAddr()
	if n.MetricsAddr() == "" {
		t.Fatal("no metrics listener")
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get(metricsURL + "/metrics"); st != http.StatusOK || !strings.Contains(body, "presenced_ready 1") {
		t.Fatalf("/metrics on the metrics listener: %d %.200s", st, body)
	}
	for _, base := range []string{metricsURL, n.URL, n.InternalURL} {
		for _, probe := range []string{"/healthz", "/readyz"} {
			if st, body := get(base + probe); st != http.StatusOK {
				t.Errorf("%s%s: %d %s", base, probe, st, body)
			}
		}
	}
	for _, base := range []string{n.URL, n.InternalURL} {
		if st, body := get(base + "/metrics"); st != http.StatusNotFound || !strings.Contains(body, "M_UNRECOGNIZED") {
			t.Errorf("%s/metrics: %d %.200s, want 404 M_UNRECOGNIZED", base, st, body)
		}
	}
	if st, body := get(metricsURL + nodetest.PresencePath("@alice:example.org")); st != http.StatusNotFound || !strings.Contains(body, "M_UNRECOGNIZED") {
		t.Errorf("presence path on the metrics listener: %d %s", st, body)
	}
}

// TestMetricsOnClientListener: without --metrics-listen, /metrics is on the
// client listener, and the node has no metrics listener.
func TestMetricsOnClientListener(t *testing.T) {
	n := nodetest.StartNode(t)
	if n.MetricsAddr() != "" {
		t.Fatalf("metrics listener at %s", n.MetricsAddr())
	}
	resp, err := http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
}
