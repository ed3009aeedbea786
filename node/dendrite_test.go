//go:build dendrite

package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/nodetest"
)

// This file tests token delegation against a real homeserver: Dendrite
// v0.13.8 (github.com/matrix-org/dendrite, the last Apache-2.0 release), a
// monolith with SQLite on loopback. scripts/dendrite.sh builds it from the Go
// module proxy into a cache directory on first use (about 70 s), then reuses
// it. Run with: go test -race -tags dendrite -run Dendrite ./node/

const dendriteServerName = "example.org"

// dendrite is a running Dendrite monolith.
type dendrite struct {
	URL    string
	config string
	bin    string
	secret string
}

func startDendrite(t *testing.T) *dendrite {
	t.Helper()
	start := time.Now()
	build := exec.Command("bash", "../scripts/dendrite.sh")
	build.Stderr = os.Stderr // the build's progress, on first use
	out, err := build.Output()
	if err != nil {
		t.Fatalf("building Dendrite: %v", err)
	}
	bin := strings.TrimSpace(string(out))
	t.Logf("Dendrite commands in %s (%.1fs)", bin, time.Since(start).Seconds())

	dir := t.TempDir()
	run := func(name string, args ...string) []byte {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
		}
		return b
	}
	key := filepath.Join(dir, "matrix_key.pem")
	run("generate-keys", "--private-key", key)
	raw := run("generate-config", "-dir", dir, "-server", dendriteServerName)

	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	section := func(m map[string]any, k string) map[string]any {
		s, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("Dendrite config has no %s section", k)
		}
		return s
	}
	global := section(cfg, "global")
	global["private_key"] = key
	global["disable_federation"] = true
	section(global, "presence")["enable_inbound"] = true
	section(global, "presence")["enable_outbound"] = true
	section(global, "server_notices")["enabled"] = false
	clientAPI := section(cfg, "client_api")
	secret := "presenced-test-shared-secret"
	clientAPI["registration_shared_secret"] = secret
	section(clientAPI, "rate_limiting")["enabled"] = false
	cfg["logging"] = []any{map[string]any{"type": "std", "level": "warn"}}
	conf, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "dendrite.yaml")
	if err := os.WriteFile(configPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	logFile, err := os.Create(filepath.Join(dir, "dendrite.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "dendrite"), "-config", configPath, "-http-bind-address", addr)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("Dendrite log:\n%s", b)
		}
	})
	d := &dendrite{URL: "http://" + addr, config: configPath, bin: bin, secret: secret}
	started := time.Now()
	nodetest.Eventually(t, 60*time.Second, func() error {
		select {
		case err := <-exited:
			t.Fatalf("Dendrite exited: %v", err)
		default:
		}
		resp, err := http.Get(d.URL + "/_matrix/client/versions")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("versions: %d", resp.StatusCode)
		}
		return nil
	})
	t.Logf("Dendrite ready on %s in %.1fs", addr, time.Since(started).Seconds())
	return d
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// createAccount registers a user with Dendrite's own tool.
func (d *dendrite) createAccount(t *testing.T, user, password string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(d.bin, "create-account"), "-config", d.config, "-url", d.URL, "-username", user, "-password", password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create-account %s: %v\n%s", user, err, out)
	}
}

func matrixCall(t *testing.T, method, u, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// login returns a fresh access token of user.
func (d *dendrite) login(t *testing.T, user, password string) string {
	t.Helper()
	status, m := matrixCall(t, http.MethodPost, d.URL+"/_matrix/client/v3/login", "", map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   password,
	})
	tok, _ := m["access_token"].(string)
	if status != 200 || tok == "" {
		t.Fatalf("login %s: %d %v", user, status, m)
	}
	return tok
}

func (d *dendrite) logout(t *testing.T, token string) {
	t.Helper()
	if status, m := matrixCall(t, http.MethodPost, d.URL+"/_matrix/client/v3/logout", token, map[string]any{}); status != 200 {
		t.Fatalf("logout: %d %v", status, m)
	}
}

// whoamiCounter is a reverse proxy in front of Dendrite that counts the
// whoami calls presenced makes, to check caching and collapsing against the
// real homeserver.
type whoamiCounter struct {
	*http.Server
	URL   string
	calls atomic.Int64
}

func newWhoamiCounter(t *testing.T, target string) *whoamiCounter {
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &whoamiCounter{URL: "http://" + ln.Addr().String()}
	w.Server = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_matrix/client/v3/account/whoami" {
			w.calls.Add(1)
		}
		proxy.ServeHTTP(rw, r)
	})}
	go func() { _ = w.Serve(ln) }()
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// TestDendrite runs presenced with --auth homeserver against Dendrite.
func TestDendrite(t *testing.T) {
	d := startDendrite(t)
	const pw = "correct horse battery staple"
	for _, u := range []string{"alice", "bob"} {
		d.createAccount(t, u, pw)
	}
	alice, bob := d.login(t, "alice", pw), d.login(t, "bob", pw)
	if status, m := matrixCall(t, http.MethodGet, d.URL+"/_matrix/client/v3/account/whoami", alice, nil); status != 200 || m["user_id"] != "@alice:example.org" {
		t.Fatalf("Dendrite whoami: %d %v", status, m)
	}

	counter := newWhoamiCounter(t, d.URL)
	homeserver := func(url string, ttl time.Duration) nodetest.Option {
		return func(c *node.Config, o *node.Options) {
			c.Auth.Provider = auth.ProviderHomeserver
			c.Auth.HomeserverURL = url
			c.Auth.CacheTTL = ttl
			c.Auth.NegativeCacheTTL = 0
			o.Authenticator = nil
		}
	}
	n := nodetest.StartNode(t, homeserver(counter.URL, 2*time.Second))

	t.Run("tokens accepted", func(t *testing.T) {
		if r := n.Put(t, alice, "@alice:example.org", map[string]any{"presence": "online", "status_msg": "from dendrite"}); r.Status != 200 {
			t.Fatalf("PUT with Dendrite's token: %d %s", r.Status, r.Body)
		}
		r := n.Get(t, bob, "@alice:example.org")
		if r.Status != 200 || r.JSON["presence"] != "online" || r.JSON["status_msg"] != "from dendrite" {
			t.Fatalf("GET with Dendrite's token: %d %s", r.Status, r.Body)
		}
		r = n.Put(t, alice, "@bob:example.org", map[string]any{"presence": "online"})
		wantMatrixError(t, "PUT of another user", r.Status, r.Header, r.Body, 403, "M_FORBIDDEN")
	})

	t.Run("cached", func(t *testing.T) {
		before := counter.calls.Load()
		for range 5 {
			if r := n.Get(t, alice, "@bob:example.org"); r.Status != 200 {
				t.Fatalf("GET: %d %s", r.Status, r.Body)
			}
		}
		if c := counter.calls.Load() - before; c > 1 {
			t.Fatalf("%d whoami calls for 5 requests with one token in the TTL", c)
		}
	})

	t.Run("unknown token", func(t *testing.T) {
		bad := alice + "x"
		if status, m := matrixCall(t, http.MethodGet, d.URL+"/_matrix/client/v3/account/whoami", bad, nil); status != 401 || m["errcode"] != "M_UNKNOWN_TOKEN" {
			t.Fatalf("Dendrite on a bad token: %d %v", status, m)
		}
		r := n.Get(t, bad, "@alice:example.org")
		wantMatrixError(t, "bad token", r.Status, r.Header, r.Body, 401, "M_UNKNOWN_TOKEN")
		r = n.Put(t, bad, "@alice:example.org", map[string]any{"presence": "offline"})
		wantMatrixError(t, "PUT with a bad token", r.Status, r.Header, r.Body, 401, "M_UNKNOWN_TOKEN")
	})

	t.Run("logged out", func(t *testing.T) {
		// A token logged out before its first use is refused at once.
		gone := d.login(t, "alice", pw)
		d.logout(t, gone)
		r := n.Get(t, gone, "@alice:example.org")
		wantMatrixError(t, "logged-out token", r.Status, r.Header, r.Body, 401, "M_UNKNOWN_TOKEN")

		// A token in the cache works until its TTL passes, then is refused.
		cached := d.login(t, "bob", pw)
		if r := n.Get(t, cached, "@alice:example.org"); r.Status != 200 {
			t.Fatalf("GET: %d %s", r.Status, r.Body)
		}
		d.logout(t, cached)
		nodetest.Eventually(t, 10*time.Second, func() error {
			if r := n.Get(t, cached, "@alice:example.org"); r.Status != 401 || r.Errcode() != "M_UNKNOWN_TOKEN" {
				return fmt.Errorf("logged-out token after the TTL: %d %s", r.Status, r.Body)
			}
			return nil
		})
	})

	t.Run("concurrent look-ups collapse", func(t *testing.T) {
		fresh := d.login(t, "bob", pw)
		before := counter.calls.Load()
		var wg sync.WaitGroup
		errs := make(chan string, 32)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodGet, n.URL+nodetest.PresencePath("@alice:example.org"), nil)
				req.Header.Set("Authorization", "Bearer "+fresh)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Sprint(resp.StatusCode)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("concurrent GET: %s", e)
		}
		if c := counter.calls.Load() - before; c != 1 {
			t.Fatalf("%d whoami calls for 32 concurrent requests with one new token, want 1", c)
		}
	})

	t.Run("other server", func(t *testing.T) {
		// A node of another server name, on the same homeserver: Dendrite's
		// users are not its users, so it holds no writes for them.
		other := nodetest.StartNode(t, homeserver(d.URL, time.Minute), nodetest.WithConfig(func(c *node.Config) {
			c.ServerName = "other.test"
			c.Auth.Visibility = auth.VisibilitySameServer
		}))
		r := other.Put(t, alice, "@alice:example.org", map[string]any{"presence": "online"})
		wantMatrixError(t, "PUT by a user of another server", r.Status, r.Header, r.Body, 403, "M_FORBIDDEN")
		r = other.Get(t, alice, "@alice:example.org")
		wantMatrixError(t, "same-server GET by a user of another server", r.Status, r.Header, r.Body, 403, "M_FORBIDDEN")
	})

	t.Run("homeserver stopped", func(t *testing.T) {
		// With the homeserver gone, new tokens are refused with 503, never let through.
		fresh := d.login(t, "alice", pw)
		_ = counter.Close()
		r := n.Get(t, fresh, "@alice:example.org")
		wantMatrixError(t, "homeserver unreachable", r.Status, r.Header, r.Body, 503, "M_UNKNOWN")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	})
}
