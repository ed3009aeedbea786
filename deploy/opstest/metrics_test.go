//go:build ops

package opstest

import (
	"os/exec"
	"strings"
	"testing"
)

// scrape returns a node's /metrics text.
func scrape(t *testing.T, base string) string {
	t.Helper()
	return call(t, "GET", base+"/metrics", "", "", nil).want(t, 200, "GET /metrics").body
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
