//go:build homeserver

package homeserver_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// register creates a user with the homeserver's shared-secret registration
// (GET then POST /_synapse/admin/v1/register, which Dendrite serves), through
// the front door, and returns a client logged in as that user.
func register(t *testing.T, front, name string) *mautrix.Client {
	t.Helper()
	ctx := context.Background()
	cli, err := mautrix.NewClient(front, "", "")
	if err != nil {
		t.Fatal(err)
	}
	u := cli.BuildURL(mautrix.SynapseAdminURLPath{"v1", "register"})
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if _, err := cli.MakeRequest(ctx, http.MethodGet, u, nil, &nonce); err != nil || nonce.Nonce == "" {
		t.Fatalf("registration nonce: %v (%q)", err, nonce.Nonce)
	}
	const password = "correct horse battery staple"
	mac := hmac.New(sha1.New, []byte(registrationSecret))
	for i, part := range []string{nonce.Nonce, name, password, "notadmin"} {
		if i > 0 {
			mac.Write([]byte{0})
		}
		mac.Write([]byte(part))
	}
	var resp mautrix.RespRegister
	_, err = cli.MakeRequest(ctx, http.MethodPost, u, map[string]any{
		"nonce": nonce.Nonce, "username": name, "password": password, "admin": false,
		"mac": hex.EncodeToString(mac.Sum(nil)),
	}, &resp)
	if err != nil || resp.AccessToken == "" {
		t.Fatalf("registering %s: %v (%+v)", name, err, resp)
	}
	cli.UserID, cli.AccessToken, cli.DeviceID = resp.UserID, resp.AccessToken, resp.DeviceID
	return cli
}

// answer is one HTTP exchange made with a client, headers included.
type answer struct {
	status  int
	header  http.Header
	content map[string]any
}

// upstream is the address of the server that answered through nginx.
func (a answer) upstream() string { return a.header.Get(upstreamHeader) }

// call makes one request with the client's token and returns the answer
// whatever its status.
func call(t *testing.T, cli *mautrix.Client, method, url string, body any) answer {
	t.Helper()
	var content map[string]any
	_, resp, err := cli.MakeFullRequestWithResp(context.Background(), mautrix.FullRequest{
		Method: method, URL: url, RequestJSON: body, ResponseJSON: &content, MaxAttempts: 1,
	})
	var httpErr mautrix.HTTPError
	if resp == nil || (err != nil && !errors.As(err, &httpErr)) {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, content: content}
}

// presenceURL is the client API path of user's presence.
func presenceURL(cli *mautrix.Client, user id.UserID) string {
	return cli.BuildClientURL("v3", "presence", user, "status")
}

// syncWatcher follows one user's /sync, incrementally, through the front
// door.
type syncWatcher struct {
	cli   *mautrix.Client
	since string
}

// newSyncWatcher makes the user's initial sync; later calls see only what
// comes after it.
func newSyncWatcher(t *testing.T, cli *mautrix.Client) *syncWatcher {
	t.Helper()
	resp, err := cli.FullSyncRequest(context.Background(), mautrix.ReqSync{Timeout: 0})
	if err != nil {
		t.Fatalf("initial /sync of %s: %v", cli.UserID, err)
	}
	return &syncWatcher{cli: cli, since: resp.NextBatch}
}

// waitPresence syncs until an m.presence event of user arrives with the
// given presence (and status message, unless anyMsg), and returns it.
func (w *syncWatcher) waitPresence(t *testing.T, user id.UserID, presence event.Presence, msg string, anyMsg bool, within time.Duration) *event.PresenceEventContent {
	t.Helper()
	var seen []string
	var found *event.PresenceEventContent
	eventually(t, within, fmt.Sprintf("%s's /sync showing %s %s %q", w.cli.UserID, user, presence, msg), func() error {
		resp, err := w.cli.FullSyncRequest(context.Background(), mautrix.ReqSync{Timeout: 1000, Since: w.since})
		if err != nil {
			return err
		}
		w.since = resp.NextBatch
		for _, evt := range resp.Presence.Events {
			if evt.Type.Type != event.EphemeralEventPresence.Type || evt.Sender != user {
				continue
			}
			if err := evt.Content.ParseRaw(event.EphemeralEventPresence); err != nil && !errors.Is(err, event.ErrContentAlreadyParsed) {
				return err
			}
			c := evt.Content.AsPresence()
			seen = append(seen, fmt.Sprintf("%s %q", c.Presence, c.StatusMessage))
			if c.Presence == presence && (anyMsg || c.StatusMessage == msg) {
				found = c
				return nil
			}
		}
		return fmt.Errorf("m.presence events of %s so far: %v", user, seen)
	})
	return found
}

// backgroundSync is a client that keeps syncing, as an open app does,
// until stopped.
type backgroundSync struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	syncs   int
	lastErr error
}

// keepSyncing long-polls /sync (timeout 1s) with set_presence until stop.
func keepSyncing(cli *mautrix.Client, setPresence event.Presence) *backgroundSync {
	ctx, cancel := context.WithCancel(context.Background())
	s := &backgroundSync{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		since := ""
		for ctx.Err() == nil {
			resp, err := cli.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: 1000, Since: since, SetPresence: setPresence})
			s.mu.Lock()
			if err == nil {
				since = resp.NextBatch
				s.syncs++
			} else if ctx.Err() == nil {
				s.lastErr = err
			}
			s.mu.Unlock()
			if err != nil {
				select { // a failing server is not hammered
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
	}()
	return s
}

// stats says how many syncs succeeded and the last error.
func (s *backgroundSync) stats() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncs, s.lastErr
}

// stop ends the syncing and waits for the loop to return.
func (s *backgroundSync) stop() {
	s.cancel()
	<-s.done
}
