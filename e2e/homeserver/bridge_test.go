//go:build homeserver

package homeserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bridgeLeaseTTL is the bridge's --lease-ttl: a restarted bridge takes over
// from a killed one once the dead one's lease has expired.
const bridgeLeaseTTL = 2 * time.Second

// bridgeBucket is the KV bucket of the bridge's feed position.
const bridgeBucket = "presence-dendrite"

// startBridge runs presence-dendrite between presenced's internal listener
// and Dendrite's NATS, and waits until it is the publishing replica.
func startBridge(t *testing.T, exe, replica, presencedInternal, secretFile, natsURL string) *process {
	t.Helper()
	listen := freeAddr(t)
	p := startProcess(t, replica, exec.Command(exe,
		"--presenced-url", "http://"+presencedInternal,
		"--internal-secret-file", secretFile,
		"--nats-url", natsURL,
		"--kv-bucket", bridgeBucket,
		"--listen", listen,
		"--replica", replica,
		"--lease-ttl", bridgeLeaseTTL.String(),
		"--poll-timeout", "2s",
		"--log-level", "debug"))
	eventually(t, 30*time.Second, replica+" ready as the leader", func() error {
		if err := p.alive(); err != nil {
			return err
		}
		resp, err := http.Get("http://" + listen + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != http.StatusOK || body["role"] != "leader" {
			return fmt.Errorf("/readyz %d %v", resp.StatusCode, body)
		}
		return nil
	})
	return p
}

// storedPosition is the feed position the bridge has stored ("" if none).
func storedPosition(t *testing.T, nc *nats.Conn) string {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, bridgeBucket)
	if err != nil {
		return ""
	}
	e, err := kv.Get(ctx, "position")
	if err != nil {
		return ""
	}
	return string(e.Value())
}
