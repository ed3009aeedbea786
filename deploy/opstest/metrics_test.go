//go:build ops

package opstest

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
)

// futureMetrics are the metrics the dashboard and rules use that a node
// may not export yet. A check that needs one of them is skipped, naming
// it, when no node exports it; a check on any other metric fails.
var futureMetrics = map[string]bool{
	"presenced_build_info":                 true,
	"presenced_http_in_flight_requests":     true,
	"presenced_http_max_in_flight_requests": true,
	"presenced_http_open_connections":       true,
	"presenced_http_max_connections":        true,
	"presenced_replay_duration_seconds":     true,
	"presenced_projection_users_by_state":   true,
}

// scrape returns a node's /metrics text.
func scrape(t *testing.T, base string) string {
	t.Helper()
	return call(t, "GET", base+"/metrics", "", "", nil).want(t, 200, "GET /metrics").body
}

// families returns the metric families the nodes at bases export.
func families(t *testing.T, bases ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, b := range bases {
		sc := bufio.NewScanner(strings.NewReader(scrape(t, b)))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
				out[f[2]] = true
			}
		}
	}
	return out
}

// family is the metric family a series name belongs to.
func family(name string) string {
	for _, s := range []string{"_bucket", "_count", "_sum"} {
		name = strings.TrimSuffix(name, s)
	}
	return name
}

// missingFuture returns the future metrics among names that no node exports.
func missingFuture(names []string, exported map[string]bool) []string {
	var out []string
	for _, n := range names {
		if f := family(n); futureMetrics[f] && !exported[f] {
			out = append(out, f)
		}
	}
	return out
}

// TestPromtoolCheckMetrics lints a node's /metrics, after some traffic so
// that the labelled series exist, with promtool check metrics.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := tool(t, "promtool")
	hs := startStandIn(t, nil)
	a := startNode(t, "lint-static", "--tokens-file", writeTokens(t, staticTokens(4)), "--ratelimit-auth-failures-burst", "3")
	b := startNode(t, "lint-homeserver", "--auth", "homeserver", "--homeserver-url", hs.url)
	driveStaticLoad(t, a.url, 4)
	driveHomeserverLoad(t, b.url)
	for _, n := range []*presencedNode{a, b} {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(scrape(t, n.url))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool check metrics on %s's /metrics: %v\n%s", n.name, err, out)
		}
	}
}
