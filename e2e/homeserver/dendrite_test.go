//go:build homeserver

package homeserver_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// serverName is the homeserver's domain, Dendrite's and presenced's.
const serverName = "homeserver.test"

// registrationSecret is Dendrite's registration_shared_secret.
const registrationSecret = "e2e-registration-secret"

// dendrite is a running Dendrite monolith.
type dendrite struct {
	addr string // host:port of its client API
	proc *process
}

// dendriteBin builds Dendrite with scripts/dendrite.sh (once, into a cache
// directory) and returns the directory of its commands.
func dendriteBin(t *testing.T) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(repoRoot, "scripts", "dendrite.sh"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/dendrite.sh: %v\n%s", err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

// startDendrite runs Dendrite on the NATS at natsURL, with its own presence
// reduced to what the bridge needs: the sync API still consumes the
// presence stream and shows it in /sync (enable_inbound), while its PUT
// handler and sync-driven presence do nothing (enable_outbound off).
func startDendrite(t *testing.T, natsURL string) *dendrite {
	t.Helper()
	bin := dendriteBin(t)
	dir := t.TempDir()
	tool := func(name string, args ...string) []byte {
		var stderr bytes.Buffer
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir, cmd.Stderr = dir, &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
		}
		return out
	}
	key := filepath.Join(dir, "matrix_key.pem")
	tool("generate-keys", "--private-key", key)
	var cfg map[string]any
	if err := yaml.Unmarshal(tool("generate-config", "-dir", dir, "-server", serverName), &cfg); err != nil {
		t.Fatalf("generate-config: %v", err)
	}
	set := func(value any, path ...string) {
		m := cfg
		for _, k := range path[:len(path)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				t.Fatalf("Dendrite's generated config has no %s", strings.Join(path, "."))
			}
			m = next
		}
		m[path[len(path)-1]] = value
	}
	set(key, "global", "private_key")
	set(true, "global", "disable_federation")
	set(true, "global", "presence", "enable_inbound")
	set(false, "global", "presence", "enable_outbound")
	set([]any{natsURL}, "global", "jetstream", "addresses")
	// generate-config writes true, which makes Dendrite demand TLS of NATS.
	set(false, "global", "jetstream", "disable_tls_validation")
	set(false, "global", "server_notices", "enabled")
	set(registrationSecret, "client_api", "registration_shared_secret")
	set(false, "client_api", "rate_limiting", "enabled")
	cfg["logging"] = []any{map[string]any{"type": "std", "level": "warn"}}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "dendrite.yaml")
	if err := os.WriteFile(config, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	d := &dendrite{addr: freeAddr(t)}
	cmd := exec.Command(filepath.Join(bin, "dendrite"), "-config", config, "-http-bind-address", d.addr)
	cmd.Dir = dir
	d.proc = startProcess(t, "dendrite", cmd)
	eventually(t, 60*time.Second, "Dendrite answering /_matrix/client/versions", func() error {
		if err := d.proc.alive(); err != nil {
			return err
		}
		return httpStatus("http://"+d.addr+"/_matrix/client/versions", http.StatusOK)
	})
	return d
}

// httpStatus checks that a GET of u answers want.
func httpStatus(u string, want int) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
	}
	return nil
}
