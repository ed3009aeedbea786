package node_test

import (
	"net/http"
	"testing"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/nodetest"
)

// TestVisibility reads presence under each --visibility policy. nodetest's
// eve-token belongs to @eve:elsewhere.test, a user of another server.
func TestVisibility(t *testing.T) {
	type read struct {
		token, target string
		allowed       bool
	}
	const alice, bob, eve = "@alice:example.org", "@bob:example.org", "@eve:elsewhere.test"
	cases := map[string][]read{
		auth.VisibilityAuthenticated: {
			{"alice-token", alice, true}, {"bob-token", alice, true}, {"eve-token", alice, true},
		},
		auth.VisibilitySameServer: {
			{"alice-token", alice, true}, {"bob-token", alice, true}, {"eve-token", alice, false},
			{"eve-token", eve, false},
		},
		auth.VisibilitySelf: {
			{"alice-token", alice, true}, {"bob-token", alice, false}, {"eve-token", alice, false},
			{"alice-token", bob, false},
		},
	}
	for policy, reads := range cases {
		t.Run(policy, func(t *testing.T) {
			n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) { c.Auth.Visibility = policy }))
			if r := n.Put(t, "alice-token", alice, map[string]any{"presence": "online"}); r.Status != 200 {
				t.Fatalf("PUT: %d %s", r.Status, r.Body)
			}
			for _, rd := range reads {
				r := n.Get(t, rd.token, rd.target)
				if rd.allowed {
					if r.Status != http.StatusOK {
						t.Errorf("%s reading %s: %d %s, want 200", rd.token, rd.target, r.Status, r.Body)
					}
					continue
				}
				wantMatrixError(t, rd.token+" reading "+rd.target, r.Status, r.Header, r.Body, 403, "M_FORBIDDEN")
			}
			// A refusal does not reveal whether the user has a state.
			if policy == auth.VisibilitySelf {
				r := n.Get(t, "alice-token", "@nobody:example.org")
				wantMatrixError(t, "self reading a user without state", r.Status, r.Header, r.Body, 403, "M_FORBIDDEN")
			}
		})
	}
}

// TestPutForeignDomain: a user of another server cannot write presence,
// not even their own.
func TestPutForeignDomain(t *testing.T) {
	n := nodetest.StartNode(t)
	r := n.Put(t, "eve-token", "@eve:elsewhere.test", map[string]any{"presence": "online"})
	wantMatrixError(t, "PUT by a user of another server", r.Status, r.Header, r.Body, 403, "M_FORBIDDEN")
	if g := n.Get(t, "alice-token", "@eve:elsewhere.test"); g.Status != 404 {
		t.Fatalf("refused write was stored: %d %s", g.Status, g.Body)
	}
}

// TestVisibilityInvalid: an unknown policy is a configuration error.
func TestVisibilityInvalid(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Auth.Visibility = "friends"
	if err := cfg.Validate(); err == nil {
		t.Fatal("unknown --visibility accepted")
	}
}
