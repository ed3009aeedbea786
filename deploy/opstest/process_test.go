//go:build ops

package opstest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is a program the test started; it is stopped (SIGTERM, then
// SIGKILL) when the test ends, and its output is shown if the test failed.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// syncBuffer collects a process's output from its copying goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs bin with args until the test ends.
func start(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	return startCmd(t, name, exec.Command(bin, args...))
}

func startCmd(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

// stop ends the process: SIGTERM, and SIGKILL if it has not exited after 10 s.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls cond every 100 ms until it returns nil or the timeout is over.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// presencedNode is a presenced process on an embedded NATS server.
type presencedNode struct {
	*process
	addr string
	url  string
}

// serverName is the homeserver domain of the nodes the tests start.
const serverName = "localhost"

// startNode runs presenced with its embedded NATS server on a fresh data
// directory, with extra flags appended, and waits until /readyz passes.
func startNode(t *testing.T, name string, extra ...string) *presencedNode {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	args := append([]string{
		"--listen", addr,
		"--data-dir", filepath.Join(dir, "data"),
		"--node-name", name,
		"--server-name", serverName,
		"--log-format", "json",
	}, extra...)
	n := &presencedNode{process: start(t, name, presencedBin, args...), addr: addr, url: "http://" + addr}
	waitFor(t, 30*time.Second, name+" ready", func() error {
		if !n.running() {
			t.Fatalf("%s exited:\n%s", name, tail(n.out.String(), 4000))
		}
		resp, err := http.Get(n.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		return nil
	})
	return n
}

// writeTokens writes a tokens file mapping each token to its user.
func writeTokens(t *testing.T, tokens map[string]string) string {
	t.Helper()
	var b strings.Builder
	for tok, user := range tokens {
		fmt.Fprintf(&b, "%s: %q\n", tok, user)
	}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
