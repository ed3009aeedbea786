//go:build homeserver

package homeserver_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/presenced/presenced/events"
)

// TestHomeserverEndToEnd runs a homeserver fleet of one on loopback: NATS,
// Dendrite on that NATS, presenced (--auth homeserver against Dendrite,
// on the same NATS with a stream of its own), the presence-dendrite bridge
// and nginx with the shipped configuration. Alice and Bob are Matrix users
// who talk to nginx only, with mautrix-go. What Bob's /sync shows of Alice is
// the proof that presence held by presenced reaches a homeserver's clients,
// and that Alice's own syncing drives it.
//
// The steps run in order and the test stops at the first that fails. A
// presenced built without the internal listener (--internal-listen) can
// run only the steps before "the fleet API": the test then fails there,
// saying so.
func TestHomeserverEndToEnd(t *testing.T) {
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	bins := buildBinaries(t)
	fleetAPI := hasFlag(t, bins.presenced, "internal-listen")
	natsURL := startNATS(t)
	nc := connectNATS(t, natsURL)
	hs := startDendrite(t, natsURL)
	secretFile := writeSecret(t)
	node := startPresenced(t, bins.presenced, presencedOptions{
		natsURL: natsURL, homeserver: hs.addr, secretFile: secretFile, withInternal: fleetAPI,
	})
	internal := node.internal
	if internal == "" {
		// Nothing listens there: nginx's copies of /sync fail, which the
		// clients must not notice.
		internal = freeAddr(t)
	}
	front := startNginx(t, node.addr, internal, hs.addr)

	alice, bob := register(t, front, "alice"), register(t, front, "bob")
	room, err := alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "e2e"})
	if err != nil {
		t.Fatalf("Alice creating a room: %v", err)
	}
	if _, err := bob.JoinRoomByID(context.Background(), room.RoomID); err != nil {
		t.Fatalf("Bob joining Alice's room: %v", err)
	}
	bobSync := newSyncWatcher(t, bob)

	step("Dendrite runs on the test's NATS", func(t *testing.T) {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := js.Consumer(ctx, "DendriteOutputPresenceEvent", "DendriteSyncAPIPresenceConsumerPull"); err != nil {
			t.Fatalf("Dendrite's presence stream and sync consumer on the test's NATS: %v", err)
		}
	})

	step("nginx sends presence to presenced and the rest to Dendrite", func(t *testing.T) {
		for _, c := range []struct {
			what, method, url, want string
			body                    any
			status                  int
		}{
			{"whoami", http.MethodGet, bob.BuildClientURL("v3", "account", "whoami"), hs.addr, nil, 200},
			{"/sync", http.MethodGet, bob.BuildURLWithQuery(mautrix.ClientURLPath{"v3", "sync"}, map[string]string{"timeout": "0", "since": bobSync.since}), hs.addr, nil, 200},
			{"presence PUT", http.MethodPut, presenceURL(bob, bob.UserID), node.addr, map[string]any{"presence": "online", "status_msg": "front door"}, 200},
			{"presence GET", http.MethodGet, presenceURL(bob, bob.UserID), node.addr, nil, 200},
		} {
			a := call(t, bob, c.method, c.url, c.body)
			if a.status != c.status || a.upstream() != c.want {
				t.Fatalf("%s through nginx: %d answered by %q, want %d by %s (presenced %s, Dendrite %s): %v",
					c.what, a.status, a.upstream(), c.status, c.want, node.addr, hs.addr, a.content)
			}
		}
		if err := storedByPresenced(nc, bob.UserID, "front door"); err != nil {
			t.Fatalf("a 200 to Bob's PUT, but: %v", err)
		}
		a := call(t, alice, http.MethodGet, presenceURL(alice, bob.UserID), nil)
		if a.content["presence"] != "online" || a.content["status_msg"] != "front door" {
			t.Fatalf("Alice reading Bob's presence through nginx: %v", a.content)
		}
		// presenced checked the tokens with Dendrite's whoami: an unknown one is refused.
		stranger, _ := mautrix.NewClient(front, bob.UserID, "not-a-token")
		if a := call(t, stranger, http.MethodGet, presenceURL(stranger, bob.UserID), nil); a.status != 401 || a.upstream() != node.addr {
			t.Fatalf("an unknown token through nginx: %d by %q, want 401 by presenced", a.status, a.upstream())
		}
	})

	// The bridge runs from here on; it can publish only once presenced's
	// change feed answers.
	firstBridge := startBridge(t, bins.bridge, "bridge-1", internal, secretFile, natsURL)

	if !fleetAPI {
		_, ready, err := firstBridge.readiness()
		t.Logf("bridge-1 /readyz without the fleet API: %v %v", ready, err)
		t.Fatal("presenced has no --internal-listen: the fleet API (the /sync mirror, the change feed) is not in this build. " +
			"Passed so far: Dendrite on the test's NATS, registration and the room through nginx, presence PUT and GET through nginx answered by presenced, the bridge started. " +
			"Not run: the bridge publishing, Bob's /sync following Alice, sync-driven presence and the sync timeout.")
	}

	firstBridge.waitLeader(t)
	// On its first start the bridge stores the feed's current position: it
	// publishes every change after it, and resumes from what it stored.
	eventually(t, 10*time.Second, "the bridge storing its first feed position", func() error {
		if storedPosition(t, nc) == "" {
			return fmt.Errorf("no position in KV bucket %s", bridgeBucket)
		}
		return nil
	})

	step("Alice's PUT is stored by presenced and reaches Bob's /sync", func(t *testing.T) {
		a := call(t, alice, http.MethodPut, presenceURL(alice, alice.UserID), map[string]any{"presence": "online", "status_msg": "at lunch"})
		if a.status != 200 || a.upstream() != node.addr {
			t.Fatalf("Alice's PUT: %d answered by %q, want 200 by presenced (%s)", a.status, a.upstream(), node.addr)
		}
		if err := storedByPresenced(nc, alice.UserID, "at lunch"); err != nil {
			t.Fatalf("a 200 to the PUT, but: %v", err)
		}
		c := bobSync.waitPresence(t, alice.UserID, event.PresenceOnline, "at lunch", false, 30*time.Second)
		if !c.CurrentlyActive {
			t.Errorf("Bob sees Alice online but not currently active: %+v", c)
		}
	})

	step("the bridge is killed with SIGKILL; Alice changes her status meanwhile", func(t *testing.T) {
		firstBridge.proc.kill()
		// Alice does not sync yet, so nothing refreshes this change later:
		// a bridge that did not resume from its stored position would never
		// publish it.
		a := call(t, alice, http.MethodPut, presenceURL(alice, alice.UserID), map[string]any{"presence": "online", "status_msg": "while the bridge was down"})
		if a.status != 200 || a.upstream() != node.addr {
			t.Fatalf("Alice's PUT: %d answered by %q, want 200 by presenced (%s)", a.status, a.upstream(), node.addr)
		}
		waitPresenceGET(t, bob, alice.UserID, node.addr, event.PresenceOnline, "while the bridge was down", 5*time.Second)
	})

	// A new replica takes over once the killed one's lease has expired.
	startBridge(t, bins.bridge, "bridge-2", node.internal, secretFile, natsURL).waitLeader(t)

	step("the change made while no bridge ran reaches Bob's /sync", func(t *testing.T) {
		bobSync.waitPresence(t, alice.UserID, event.PresenceOnline, "while the bridge was down", false, 30*time.Second)
	})

	// Alice opens her client: it syncs with set_presence=unavailable until
	// she closes it.
	aliceSyncing := keepSyncing(alice, event.PresenceUnavailable)
	t.Cleanup(aliceSyncing.stop)
	step("Alice keeps syncing with set_presence=unavailable: presenced and Bob's /sync show her unavailable", func(t *testing.T) {
		// Only nginx's copy of her /sync tells presenced; a sync keeps the
		// status message.
		waitPresenceGET(t, bob, alice.UserID, node.addr, event.PresenceUnavailable, "while the bridge was down", 15*time.Second)
		// nginx copies her /sync to presenced as it arrives, so presenced
		// can show her unavailable before Dendrite answers her first long
		// poll (up to 1 s later).
		eventually(t, 10*time.Second, "Alice's /sync through nginx answering", func() error {
			if n, err := aliceSyncing.stats(); n == 0 {
				return fmt.Errorf("no /sync answered yet (last error: %v)", err)
			}
			return nil
		})
		bobSync.waitPresence(t, alice.UserID, event.PresenceUnavailable, "while the bridge was down", false, 30*time.Second)
		// Her syncs keep the device alive: no expiry while she syncs, for
		// longer than a sync timeout.
		holds(t, 2*syncTimeout, "Alice staying unavailable while she syncs", func() error {
			a := call(t, bob, http.MethodGet, presenceURL(bob, alice.UserID), nil)
			if a.content["presence"] != string(event.PresenceUnavailable) {
				return fmt.Errorf("presenced answered %d %v", a.status, a.content)
			}
			return nil
		})
	})

	step("Alice stops syncing: after the sync timeout she is offline in presenced and in Bob's /sync", func(t *testing.T) {
		aliceSyncing.stop()
		stopped := time.Now()
		waitPresenceGET(t, bob, alice.UserID, node.addr, event.PresenceOffline, "", 5*syncTimeout+10*time.Second)
		// Her last sync began at most one long poll (1s) before she stopped.
		if d := time.Since(stopped); d < syncTimeout-time.Second {
			t.Fatalf("Alice offline %v after she stopped syncing, before the sync timeout (%v)", d, syncTimeout)
		}
		bobSync.waitPresence(t, alice.UserID, event.PresenceOffline, "", true, 30*time.Second)
	})

	step("a GET of Alice's presence through nginx is answered by presenced", func(t *testing.T) {
		before := node.presenceGETs(t)
		a := call(t, bob, http.MethodGet, presenceURL(bob, alice.UserID), nil)
		if a.status != 200 || a.upstream() != node.addr || a.content["presence"] != "offline" {
			t.Fatalf("GET through nginx: %d by %q (presenced %s, Dendrite %s): %v", a.status, a.upstream(), node.addr, hs.addr, a.content)
		}
		eventually(t, 5*time.Second, "presenced counting the GET", func() error {
			if after := node.presenceGETs(t); after < before+1 {
				return fmt.Errorf("presenced's presence GETs answered 200: %v before, %v after", before, after)
			}
			return nil
		})
	})
}

// waitPresenceGET polls user's presence through nginx until presenced
// (the upstream at addr) answers the given presence (and status message,
// unless msg is empty).
func waitPresenceGET(t *testing.T, cli *mautrix.Client, user id.UserID, addr string, presence event.Presence, msg string, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("GET of %s's presence through nginx answering %s %q", user, presence, msg), func() error {
		a := call(t, cli, http.MethodGet, presenceURL(cli, user), nil)
		if a.status != 200 || a.upstream() != addr {
			return fmt.Errorf("%d answered by %q: %v", a.status, a.upstream(), a.content)
		}
		if a.content["presence"] != string(presence) || (msg != "" && a.content["status_msg"] != msg) {
			return fmt.Errorf("answered %v", a.content)
		}
		return nil
	})
}

// storedByPresenced checks that presenced's stream on the shared NATS holds
// an event of user carrying text: a 200 to a PUT means it is stored.
func storedByPresenced(nc *nats.Conn, user id.UserID, text string) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, presencedStream)
	if err != nil {
		return fmt.Errorf("presenced's stream %s: %w", presencedStream, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(presencedSubject+".>"))
	if err != nil {
		return err
	}
	for subject := range info.State.Subjects {
		m, err := s.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			return err
		}
		ofUser := bytes.Contains(m.Data, []byte(user)) || strings.Contains(subject, events.SubjectToken(string(user)))
		if ofUser && bytes.Contains(m.Data, []byte(text)) {
			return nil
		}
	}
	return fmt.Errorf("no event of %s with %q among the %d subjects of stream %s", user, text, len(info.State.Subjects), presencedStream)
}
