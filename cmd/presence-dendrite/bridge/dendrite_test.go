//go:build dendrite

package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/presenced/presenced/cmd/presence-dendrite/bridge"
	"github.com/presenced/presenced/events"
)

// This file runs the bridge, built as its command, against a real Dendrite
// v0.13.8 monolith that uses an embedded NATS server of the test as its
// external NATS (global.jetstream.addresses), with Dendrite's own presence
// set to enable_inbound: true, enable_outbound: false. Alice and Bob are real
// Matrix users of that Dendrite in one room; what Bob's /sync shows is the
// proof. presenced's change feed is the stand-in of standin_test.go until
// the end-to-end test runs the bridge against presenced itself. Dendrite's
// inbound federation presence cannot arrive here (no second homeserver), so
// the test publishes it with the headers Dendrite's federation receiver
// (federationapi/producers/syncapi.go) sets.
// scripts/dendrite.sh builds Dendrite into a cache directory on first use.
// Run with: go test -race -tags dendrite -run Dendrite ./cmd/presence-dendrite/bridge/

const serverName = "example.org"

type dendriteServer struct {
	URL    string
	config string
	bin    string
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDendrite runs a Dendrite monolith on the NATS at natsURL.
func startDendrite(t *testing.T, natsURL string) *dendriteServer {
	t.Helper()
	out, err := exec.Command("bash", "../../../scripts/dendrite.sh").Output()
	if err != nil {
		t.Fatalf("building Dendrite: %v", err)
	}
	bin := strings.TrimSpace(string(out))
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
	var cfg map[string]any
	if err := yaml.Unmarshal(run("generate-config", "-dir", dir, "-server", serverName), &cfg); err != nil {
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
	presence := section(global, "presence")
	presence["enable_inbound"], presence["enable_outbound"] = true, false
	js := section(global, "jetstream")
	js["addresses"] = []any{natsURL}
	js["disable_tls_validation"] = false // true makes Dendrite demand TLS
	section(global, "server_notices")["enabled"] = false
	clientAPI := section(cfg, "client_api")
	clientAPI["registration_shared_secret"] = "bridge-test-registration"
	section(clientAPI, "rate_limiting")["enabled"] = false
	cfg["logging"] = []any{map[string]any{"type": "std", "level": "warn"}}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "dendrite.yaml")
	if err := os.WriteFile(configPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
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
	d := &dendriteServer{URL: "http://" + addr, config: configPath, bin: bin}
	eventually(t, 60*time.Second, func() error {
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
	return d
}

// matrix calls the client API and decodes the JSON answer.
func matrix(t *testing.T, method, u, token string, body any) (int, map[string]any) {
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

// user registers name with Dendrite's own tool and logs in.
func (d *dendriteServer) user(t *testing.T, name string) string {
	t.Helper()
	const pw = "correct horse battery staple"
	cmd := exec.Command(filepath.Join(d.bin, "create-account"), "-config", d.config, "-url", d.URL, "-username", name, "-password", pw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create-account %s: %v\n%s", name, err, out)
	}
	status, m := matrix(t, http.MethodPost, d.URL+"/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": name}, "password": pw,
	})
	tok, _ := m["access_token"].(string)
	if status != 200 || tok == "" {
		t.Fatalf("login %s: %d %v", name, status, m)
	}
	return tok
}

// syncer follows one user's /sync.
type syncer struct {
	d     *dendriteServer
	token string
	since string
	// pending holds, per sender, the m.presence contents received but not
	// yet matched: one /sync answer may carry several users' events, and a
	// wait for one user must not drop another's.
	pending map[string][]map[string]any
}

// presenceOf syncs until an m.presence event of user satisfies ok, and
// returns its content. Events received before it, for any user, are kept
// for later calls; the matched one and those of user before it are used up.
func (s *syncer) presenceOf(t *testing.T, user string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	if s.pending == nil {
		s.pending = map[string][]map[string]any{}
	}
	take := func() (map[string]any, []map[string]any) {
		for i, content := range s.pending[user] {
			if ok(content) {
				s.pending[user] = s.pending[user][i+1:]
				return content, nil
			}
		}
		return nil, s.pending[user]
	}
	var found map[string]any
	eventually(t, 30*time.Second, func() error {
		if c, _ := take(); c != nil {
			found = c
			return nil
		}
		q := url.Values{"timeout": {"1000"}}
		if s.since != "" {
			q.Set("since", s.since)
		}
		status, m := matrix(t, http.MethodGet, s.d.URL+"/_matrix/client/v3/sync?"+q.Encode(), s.token, nil)
		if status != 200 {
			return fmt.Errorf("sync: %d %v", status, m)
		}
		s.since, _ = m["next_batch"].(string)
		p, _ := m["presence"].(map[string]any)
		evs, _ := p["events"].([]any)
		for _, e := range evs {
			ev, _ := e.(map[string]any)
			sender, _ := ev["sender"].(string)
			if ev["type"] != "m.presence" || sender == "" {
				continue
			}
			content, _ := ev["content"].(map[string]any)
			s.pending[sender] = append(s.pending[sender], content)
		}
		c, seen := take()
		if c != nil {
			found = c
			return nil
		}
		return fmt.Errorf("no matching m.presence of %s yet (seen %v)", user, seen)
	})
	return found
}

func is(presence, status string) func(map[string]any) bool {
	return func(c map[string]any) bool {
		msg, _ := c["status_msg"].(string)
		return c["presence"] == presence && msg == status
	}
}

// bridgeProcess is the bridge's command, running.
type bridgeProcess struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{}
	log    *os.File
}

func buildBridge(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "presence-dendrite")
	if out, err := exec.Command("go", "build", "-o", exe, "github.com/presenced/presenced/cmd/presence-dendrite").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

func startBridgeProcess(t *testing.T, exe, natsURL string, feed *standInFeed, replica string) *bridgeProcess {
	t.Helper()
	listen := freePort(t)
	log, err := os.Create(filepath.Join(t.TempDir(), replica+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "--listen", listen, "--replica", replica, "--lease-ttl", "2s", "--poll-timeout", "2s")
	cmd.Env = append(os.Environ(),
		"PRESENCE_DENDRITE_PRESENCED_URL="+feed.URL,
		"PRESENCE_DENDRITE_INTERNAL_SECRET_FILE="+feed.SecretFile,
		"PRESENCE_DENDRITE_NATS_URL="+natsURL,
		"PRESENCE_DENDRITE_LOG_FORMAT=json")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &bridgeProcess{cmd: cmd, url: "http://" + listen, exited: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", replica, b)
		}
		log.Close()
	})
	eventually(t, 20*time.Second, func() error {
		_, err := p.role()
		return err
	})
	return p
}

// role is what /readyz answers: "leader" or "standby" when ready.
func (p *bridgeProcess) role() (string, error) {
	resp, err := http.Get(p.url + "/readyz")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("/readyz %d %v", resp.StatusCode, body)
	}
	role, _ := body["role"].(string)
	return role, nil
}

// kill ends the process with SIGKILL: no release of the lease, no
// finishing of what it was doing.
func (p *bridgeProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

func TestDendriteBridge(t *testing.T) {
	top := t // the bridge processes outlive the subtests that start them
	ns := startNATS(t)
	d := startDendrite(t, ns.URL)
	nc := connect(t, ns.URL)
	feed := startStandInFeed(t)
	exe := buildBridge(t)

	alice, bob := d.user(t, "alice"), d.user(t, "bob")
	status, m := matrix(t, http.MethodPost, d.URL+"/_matrix/client/v3/createRoom", alice, map[string]any{"preset": "public_chat"})
	roomID, _ := m["room_id"].(string)
	if status != 200 || roomID == "" {
		t.Fatalf("createRoom: %d %v", status, m)
	}
	if status, m := matrix(t, http.MethodPost, d.URL+"/_matrix/client/v3/join/"+url.PathEscape(roomID), bob, map[string]any{}); status != 200 {
		t.Fatalf("join: %d %v", status, m)
	}
	const aliceID, bobID = "@alice:" + serverName, "@bob:" + serverName
	bobSync := &syncer{d: d, token: bob}

	// Dendrite on this NATS has created its presence stream and consumer.
	js, _ := jetstream.New(nc)
	names := bridge.Dendrite{Prefix: "Dendrite"}
	if _, err := js.Consumer(context.Background(), names.Stream(), names.SyncConsumerName()); err != nil {
		t.Fatalf("Dendrite's sync consumer on the test's NATS: %v", err)
	}
	pubs := watchPublications(t, nc, names.Subject())

	first := startBridgeProcess(t, exe, ns.URL, feed, "first")
	var second *bridgeProcess
	waitStarted(t, nc, feed)

	t.Run("a published change reaches the other user's /sync", func(t *testing.T) {
		feed.set(change(aliceID, events.Online, "at lunch", 1500))
		c := bobSync.presenceOf(t, aliceID, is("online", "at lunch"))
		if ago, _ := c["last_active_ago"].(float64); ago < 1500 || ago > 20_000 {
			t.Fatalf("last_active_ago %v, want about 1500", c["last_active_ago"])
		}
		if c["currently_active"] != true {
			t.Fatalf("currently_active %v (Dendrite computes it: active under 5 minutes)", c["currently_active"])
		}
		feed.set(change(aliceID, events.Unavailable, "", 0))
		bobSync.presenceOf(t, aliceID, is("unavailable", ""))

		// Idle for an hour, then offline: with its true last_active_ts the
		// row would be outside the 5 minutes incremental /sync shows; the
		// bridge publishes it as active --max-last-active-age (4m) ago.
		feed.set(change(aliceID, events.Offline, "gone", 3_600_000))
		c = bobSync.presenceOf(t, aliceID, is("offline", "gone"))
		if ago, _ := c["last_active_ago"].(float64); ago < 240_000 || ago > 260_000 {
			t.Fatalf("last_active_ago %v, want the 4m clamp", c["last_active_ago"])
		}
	})

	t.Run("killing and restarting the bridge loses nothing", func(t *testing.T) {
		for len(feed.served) > 0 {
			<-feed.served
		}
		feed.set(change(aliceID, events.Online, "mid-flight", 0))
		select { // the bridge has the page, publishing or not yet
		case <-feed.served:
		case <-time.After(30 * time.Second):
			t.Fatal("the bridge did not read the change")
		}
		first.kill()
		before := storedPosition(t, nc, "presence-dendrite")
		feed.set(change(bobID, events.Online, "while down", 0))

		second = startBridgeProcess(top, exe, ns.URL, feed, "second")
		bobSync.presenceOf(t, aliceID, is("online", "mid-flight"))
		bobSync.presenceOf(t, bobID, is("online", "while down"))
		resumed := false
		for _, s := range feed.requestedSince() {
			resumed = resumed || s == before
		}
		if !resumed {
			t.Fatalf("the restarted bridge did not resume from the stored position %q (asked %v)", before, feed.requestedSince())
		}
	})

	t.Run("two replicas do not publish twice", func(t *testing.T) {
		third := startBridgeProcess(top, exe, ns.URL, feed, "third")
		if role, _ := third.role(); role != "standby" {
			t.Fatalf("a second replica is %q", role)
		}
		_, before := pubs.snapshot()
		for i := range 5 {
			s := fmt.Sprintf("round %d", i)
			feed.set(change(aliceID, events.Online, s, 0))
			bobSync.presenceOf(t, aliceID, is("online", s))
		}
		byStatus, byReplica := pubs.snapshot()
		for i := range 5 {
			if n := byStatus[fmt.Sprintf("round %d", i)]; n != 1 {
				t.Fatalf("round %d published %d times", i, n)
			}
		}
		if byReplica["third"] != 0 || byReplica["second"]-before["second"] != 5 {
			t.Fatalf("publications by replica %v (before %v)", byReplica, before)
		}

		// The leader dies; the standby takes over once the lease expires.
		second.kill()
		feed.set(change(aliceID, events.Unavailable, "after failover", 0))
		bobSync.presenceOf(t, aliceID, is("unavailable", "after failover"))
		if byStatus, byReplica := pubs.snapshot(); byStatus["after failover"] != 1 || byReplica["third"] != 1 {
			t.Fatalf("after the failover: %v by status, %v by replica", byStatus, byReplica)
		}
		if role, err := third.role(); role != "leader" {
			t.Fatalf("the standby is %q (%v) after the leader died", role, err)
		}
	})

	t.Run("non-bridge messages are forwarded to the federation ingest, the bridge's are not", func(t *testing.T) {
		m := nats.NewMsg(names.Subject())
		m.Header.Set("user_id", "@carol:remote.example")
		m.Header.Set("presence", "online")
		m.Header.Set("status_msg", "from afar")
		m.Header.Set("last_active_ts", fmt.Sprint(time.Now().Add(-2*time.Second).UnixMilli()))
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		// Dendrite stores it like any presence (Bob shares no room with
		// Carol, so his /sync does not show it); presenced gets it too.
		eventually(t, 15*time.Second, func() error {
			for _, p := range feed.federation() {
				for _, c := range p.Push {
					if c.UserID == "@carol:remote.example" && p.Origin == "remote.example" && c.StatusMsg != nil && *c.StatusMsg == "from afar" {
						return nil
					}
				}
			}
			return fmt.Errorf("forwarded %v", feed.federation())
		})
		for _, p := range feed.federation() {
			for _, c := range p.Push {
				if c.UserID != "@carol:remote.example" {
					t.Fatalf("forwarded %s (origin %s): the bridge's own publications must not loop", c.UserID, p.Origin)
				}
			}
		}
	})
}
