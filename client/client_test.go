package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// TestClientRoundTrip sets and reads presence through a real node, with a
// consistent read, and checks readiness.
func TestClientRoundTrip(t *testing.T) {
	n := nodetest.StartNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Client("").Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	msg := "lunch"
	if err := n.Client("alice-token").SetPresence(ctx, "@alice:example.org", events.Unavailable, &msg); err != nil {
		t.Fatalf("SetPresence: %v", err)
	}
	st, err := n.Client("bob-token").GetPresence(ctx, "@alice:example.org", client.Consistent())
	if err != nil {
		t.Fatalf("GetPresence: %v", err)
	}
	if st.Presence != events.Unavailable || st.StatusMsg != "lunch" || st.CurrentlyActive != nil || st.LastActiveAgo < 0 {
		t.Fatalf("GetPresence: %+v", st)
	}
	// A user ID holding "/" stays one path segment.
	if err := n.Client("slash-token").SetPresence(ctx, "@we/ird.user:example.org", events.Online, nil); err != nil {
		t.Fatalf("SetPresence of a user ID with a slash: %v", err)
	}
	if st, err := n.Client("bob-token").GetPresence(ctx, "@we/ird.user:example.org"); err != nil || st.CurrentlyActive == nil || !*st.CurrentlyActive {
		t.Fatalf("GetPresence of a user ID with a slash: %+v %v", st, err)
	}
}

// TestClientMatrixErrors: error answers come back as *client.Error with
// their errcode, and a 429 with when to retry.
func TestClientMatrixErrors(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.RateLimitPerSecond, c.HTTP.RateLimitBurst = 0.01, 1
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := n.Client("bob-token").GetPresence(ctx, "@nobody:elsewhere.test")
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusNotFound || e.Errcode != "M_NOT_FOUND" || e.Message == "" {
		t.Fatalf("GET of a remote user with no state: %v", err)
	}
	if err := n.Client("wrong-token").SetPresence(ctx, "@alice:example.org", events.Online, nil); !client.IsErrcode(err, "M_UNKNOWN_TOKEN") {
		t.Fatalf("PUT with an unknown token: %v", err)
	}
	if err := n.Client("bob-token").SetPresence(ctx, "@alice:example.org", events.Online, nil); !client.IsErrcode(err, "M_FORBIDDEN") {
		t.Fatalf("PUT of another user: %v", err)
	}
	alice := n.Client("alice-token")
	if err := alice.SetPresence(ctx, "@alice:example.org", events.Online, nil); err != nil {
		t.Fatal(err)
	}
	err = alice.SetPresence(ctx, "@alice:example.org", events.Offline, nil)
	if !errors.As(err, &e) || e.Errcode != "M_LIMIT_EXCEEDED" || e.RetryAfter <= 0 {
		t.Fatalf("PUT over the rate limit: %v (%+v)", err, e)
	}
}

// TestClientTransportError: a server that is not there is an error that is
// not a Matrix error.
func TestClientTransportError(t *testing.T) {
	c := client.New("http://127.0.0.1:1")
	_, err := c.GetPresence(context.Background(), "@alice:example.org")
	var e *client.Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
}
