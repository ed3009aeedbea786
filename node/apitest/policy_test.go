package apitest

import (
	"net/http"
	"testing"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/nodetest"
)

// TestPolicyAnswersMatchTheDescription: the answers of the visibility
// policy, the own-domain rule and the rate limits, checked against
// docs/openapi.yaml like every other exchange of this suite.
func TestPolicyAnswersMatchTheDescription(t *testing.T) {
	t.Run("visibility self", func(t *testing.T) {
		n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) { c.Auth.Visibility = auth.VisibilitySelf }))
		mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
		mustGet(t, n, aliceToken, alice)
		wantError(t, get(t, n, bobToken, alice), http.StatusForbidden, "M_FORBIDDEN")
		// Denied before the look-up: a user with no state is not told apart.
		wantError(t, get(t, n, bobToken, carol), http.StatusForbidden, "M_FORBIDDEN")
	})
	t.Run("visibility same-server", func(t *testing.T) {
		n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) { c.Auth.Visibility = auth.VisibilitySameServer }))
		mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
		mustGet(t, n, bobToken, alice)
		wantError(t, get(t, n, "eve-token", alice), http.StatusForbidden, "M_FORBIDDEN")
	})
	t.Run("own users only", func(t *testing.T) {
		n := nodetest.StartNode(t)
		wantError(t, put(t, n, "eve-token", "@eve:elsewhere.test", map[string]any{"presence": "online"}),
			http.StatusForbidden, "M_FORBIDDEN")
	})
	t.Run("rate limit", func(t *testing.T) {
		n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
			c.HTTP.RateLimitPerSecond, c.HTTP.RateLimitBurst = 0.01, 2
		}))
		mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
		mustPut(t, n, aliceToken, alice, map[string]any{"presence": "online"})
		r := put(t, n, aliceToken, alice, map[string]any{"presence": "online"})
		wantError(t, r, http.StatusTooManyRequests, "M_LIMIT_EXCEEDED")
		if ms, _ := r.JSON["retry_after_ms"].(float64); ms <= 0 {
			t.Fatalf("429 without retry_after_ms: %s", r.Body)
		}
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		// Other users have buckets of their own.
		mustPut(t, n, bobToken, bob, map[string]any{"presence": "online"})
	})
}
