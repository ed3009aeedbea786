package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// serverName is the homeserver domain of every test user.
const serverName = "jepsen.test"

// presenceNode is one presenced process. It reaches NATS server j through
// proxy nats[j] only, so the nemesis can cut it off from NATS.
type presenceNode struct {
	// internal is the base URL of the node's internal (fleet) API.
	internal string
	proc     *process
	url      string   // http://127.0.0.1:port
	nats     []*proxy // nats[j]: this node's link to server j
}

// nodeTimeouts are the presenced timeouts the harness configures, and from
// which it derives how long any request may take.
type nodeTimeouts struct {
	publish, apply time.Duration
}

// requestBound is the longest a request to a live, running node may take:
// a PUT's publish plus its apply wait, and a margin for scheduling on a
// loaded machine.
func (t nodeTimeouts) requestBound() time.Duration { return t.publish + t.apply + 3*time.Second }

func (t nodeTimeouts) args() []string {
	return []string{"--publish-timeout", t.publish.String(), "--apply-timeout", t.apply.String()}
}

// startNodes starts n presence nodes on the cluster c.
func startNodes(bin, dir string, c *natsCluster, n int, tokensFile string, t nodeTimeouts) ([]*presenceNode, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	secretFile := filepath.Join(dir, "internal-secret")
	if err := os.WriteFile(secretFile, []byte(internalSecret+"\n"), 0o600); err != nil {
		return nil, err
	}
	var nodes []*presenceNode
	for i := range n {
		pn := &presenceNode{url: fmt.Sprintf("http://127.0.0.1:%d", ports[i]), internal: fmt.Sprintf("http://127.0.0.1:%d", ports[n+i])}
		var urls []string
		for j := range clusterSize {
			p, err := startProxy(fmt.Sprintf("127.0.0.1:%d", c.client[j]))
			if err != nil {
				return nil, err
			}
			pn.nats = append(pn.nats, p)
			urls = append(urls, "nats://"+p.addr())
		}
		name := fmt.Sprintf("node-%d", i)
		args := append([]string{
			"--nats-url", strings.Join(urls, ","),
			"--stream-replicas", "3",
			"--listen", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"--tokens-file", tokensFile,
			"--server-name", serverName,
			"--node-name", name,
			"--data-dir", filepath.Join(dir, name),
			"--ratelimit-per-second", "0",
			"--log-format", "json",
			"--internal-listen", strings.TrimPrefix(pn.internal, "http://"),
			"--internal-secret-file", secretFile,
			"--sync-timeout", heartbeatSyncTimeout.String(),
		}, t.args()...)
		pn.proc = newProcess(name, bin, filepath.Join(dir, "logs", name+".log"), args...)
		nodes = append(nodes, pn)
	}
	for _, pn := range nodes {
		if err := pn.proc.start(); err != nil {
			return nil, err
		}
	}
	for _, pn := range nodes {
		if err := pn.waitReady(90 * time.Second); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// waitReady polls /readyz until the node is ready.
func (pn *presenceNode) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := probeClient().Get(pn.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last: %v)", pn.proc.name, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// partition cuts (or blackholes) the node's links to every NATS server.
func (pn *presenceNode) partition(blackhole bool) {
	for _, p := range pn.nats {
		if blackhole {
			p.Blackhole()
		} else {
			p.Cut()
		}
	}
}

func (pn *presenceNode) heal() {
	for _, p := range pn.nats {
		p.Heal()
	}
}

func (pn *presenceNode) close() {
	pn.proc.stop(syscall.SIGKILL, time.Second)
	for _, p := range pn.nats {
		p.Close()
	}
}

// writeTokens writes a tokens file for users 0..n-1 and returns its path.
func writeTokens(dir string, n int) (string, error) {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s: %q\n", userToken(i), userID(i))
	}
	path := filepath.Join(dir, "tokens.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

func userID(i int) string    { return fmt.Sprintf("@u%d:%s", i, serverName) }
func userToken(i int) string { return fmt.Sprintf("token-u%d", i) }

// freePorts returns n loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// probeClient is for probes and monitoring endpoints, which answer at once.
func probeClient() *http.Client { return &http.Client{Timeout: 2 * time.Second} }
