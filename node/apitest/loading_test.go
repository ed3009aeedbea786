package apitest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// TestAPIUnavailableUntilReplayed: until its projection has caught up with
// the stream once, a node must not answer from a partial projection. The
// node here connects as a NATS user that may not create consumers, so its
// replay cannot even begin: the API answers 503 with Retry-After and
// /readyz says why, for as long as that lasts.
func TestAPIUnavailableUntilReplayed(t *testing.T) {
	s := nodetest.RunNATS(t, server.Options{
		Users: []*server.User{
			{Username: "admin", Password: "admin-pw"},
			{Username: "reader", Password: "reader-pw", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.CONSUMER.CREATE.>"}},
			}},
		},
	})
	// A first node, with full rights, creates the stream and stores alice.
	first := nodetest.StartNode(t, nodetest.WithNATS(s.ClientURL()), nodetest.WithConfig(func(c *node.Config) {
		c.Store.NATSUser, c.Store.NATSPassword = "admin", "admin-pw"
	}))
	mustPut(t, first, aliceToken, alice, map[string]any{"presence": "online"})

	n := nodetest.NewNode(t, nodetest.WithNATS(s.ClientURL()), nodetest.WithConfig(func(c *node.Config) {
		c.Store.NATSUser, c.Store.NATSPassword = "reader", "reader-pw"
	}))
	// It keeps trying; every answer meanwhile is a 503, never a 404 for alice.
	nodetest.Eventually(t, 5*time.Second, func() error {
		r := nodetest.DefaultClient.Do(t, http.MethodGet, n.URL+"/readyz", "", nil)
		if r.Status != http.StatusServiceUnavailable || r.JSON["reason"] != "replaying the stream" {
			return fmt.Errorf("/readyz: %d %s", r.Status, r.Body)
		}
		return nil
	})
	for i := 0; i < 3; i++ {
		r := get(t, n, bobToken, alice)
		wantError(t, r, http.StatusServiceUnavailable, "M_UNKNOWN")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
		wantError(t, put(t, n, bobToken, bob, map[string]any{"presence": "online"}), http.StatusServiceUnavailable, "M_UNKNOWN")
	}
	// The stream holds alice's event and nothing else: the refused PUT was
	// not stored.
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("admin", "admin-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "PRESENCE")
	if err != nil {
		t.Fatal(err)
	}
	if msgs := st.CachedInfo().State.Msgs; msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", msgs)
	}
	if _, err := st.GetLastMsgForSubject(ctx, events.Subject(events.DefaultSubjectPrefix, bob)); err == nil {
		t.Fatal("a PUT answered 503 was stored")
	}
}
