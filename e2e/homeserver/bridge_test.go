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

// bridge is a running presence-dendrite replica.
type bridge struct {
	listen string // /healthz, /readyz, /metrics
	proc   *process
}

// startBridge runs presence-dendrite between presenced's internal listener
// and Dendrite's NATS, and waits until its process serves /healthz.
func startBridge(t *testing.T, exe, replica, presencedInternal, secretFile, natsURL string) *bridge {
	t.Helper()
	b := &bridge{listen: freeAddr(t)}
	b.proc = startProcess(t, replica, exec.Command(exe,
		"--presenced-url", "http://"+presencedInternal,
		"--internal-secret-file", secretFile,
		"--nats-url", natsURL,
		"--kv-bucket", bridgeBucket,
		"--listen", b.listen,
		"--replica", replica,
		"--lease-ttl", bridgeLeaseTTL.String(),
		"--poll-timeout", "2s",
		"--log-level", "debug"))
	eventually(t, 30*time.Second, replica+" serving /healthz", func() error {
		if err := b.proc.alive(); err != nil {
			return err
		}
		return httpStatus("http://"+b.listen+"/healthz", http.StatusOK)
	})
	return b
}

// readiness is what the bridge's /readyz answers.
func (b *bridge) readiness() (int, map[string]any, error) {
	resp, err := http.Get("http://" + b.listen + "/readyz")
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, nil
}

// waitLeader waits until the bridge is ready as the publishing replica:
// connected to NATS, presenced's change feed answering, Dendrite's sync
// consumer present, and the lease held.
func (b *bridge) waitLeader(t *testing.T) {
	t.Helper()
	eventually(t, 30*time.Second, b.proc.name+" ready as the leader", func() error {
		if err := b.proc.alive(); err != nil {
			return err
		}
		status, body, err := b.readiness()
		if err != nil {
			return err
		}
		if status != http.StatusOK || body["role"] != "leader" {
			return fmt.Errorf("/readyz %d %v", status, body)
		}
		return nil
	})
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
