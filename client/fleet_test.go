package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/nodetest"
)

// TestClientFleet: the client's fleet API calls against a real node: a
// sync shows in the bulk query and in the change feed, long poll and
// event stream alike, and federation items are counted.
func TestClientFleet(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithFleet(t))
	c := client.New(n.InternalURL, client.WithToken(nodetest.FleetSecret))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start, err := c.Changes(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, "@alice:example.org", "PHONE", events.Unavailable, 30000); err != nil {
		t.Fatal(err)
	}
	if err := c.Active(ctx, "@alice:example.org", "PHONE"); err != nil {
		t.Fatal(err)
	}
	q, err := c.Query(ctx, []string{"@alice:example.org", "@bob:example.org"})
	if err != nil || len(q.Presence) != 1 || q.Presence["@alice:example.org"].Presence != events.Online || q.Position == "" {
		t.Fatalf("query: %+v, %v", q, err)
	}
	page, err := c.Changes(ctx, start.Next, 10, time.Second)
	if err != nil || len(page.Changes) != 1 || page.Changes[0].UserID != "@alice:example.org" || page.Changes[0].Status.Presence != events.Online {
		t.Fatalf("changes: %+v, %v", page, err)
	}
	var got client.Event
	last, err := c.StreamChanges(ctx, start.Next, func(ev client.Event) bool { got = ev; return false })
	if err != nil || got.Change.UserID != "@alice:example.org" || last == start.Next || last != got.ID {
		t.Fatalf("event stream: %+v, last %s, %v", got, last, err)
	}
	ago := int64(1000)
	acc, rej, err := c.Federation(ctx, "remote.test", []client.FederationItem{
		{UserID: "@carol:remote.test", Presence: events.Online, LastActiveAgo: &ago},
		{UserID: "@mallory:other.test", Presence: events.Online},
	})
	if err != nil || acc != 1 || rej != 1 {
		t.Fatalf("federation: %d accepted, %d rejected, %v", acc, rej, err)
	}
	if _, err := client.New(n.InternalURL).Changes(ctx, "", 0, 0); !client.IsErrcode(err, "M_MISSING_TOKEN") {
		t.Fatalf("without the secret: %v", err)
	}
}
