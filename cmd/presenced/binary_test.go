package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
)

// buildPresenced builds the presenced command into a temporary directory.
func buildPresenced(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	exe := filepath.Join(t.TempDir(), "presenced")
	cmd := exec.Command(goBin, "build", "-ldflags", "-X main.version=test-build", "-o", exe, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// process is a running presenced.
type process struct {
	cmd *exec.Cmd
	url string
	// metricsURL is the base URL of --metrics-listen, when set.
	metricsURL string
	logs       *bytes.Buffer
	// logged is closed once stderr has been read to its end.
	logged chan struct{}
}

// stop kills the process and returns everything it logged.
func (p *process) stop(t *testing.T) string {
	t.Helper()
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	<-p.logged
	return p.logs.String()
}

// startPresenced runs exe with args and waits until it reports where it
// listens and /readyz answers 200.
func startPresenced(t *testing.T, exe string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "PRESENCE_LOG_FORMAT=json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	p := &process{cmd: cmd, logs: &bytes.Buffer{}, logged: make(chan struct{})}
	type started struct{ listen, metrics string }
	addr := make(chan started, 1)
	go func() {
		defer close(p.logged)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			p.logs.Write(line) // read only after p.logged is closed
			p.logs.WriteByte('\n')
			var rec struct {
				Msg     string `json:"msg"`
				Listen  string `json:"listen"`
				Metrics string `json:"metrics_listen"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "presence node started" {
				addr <- started{rec.Listen, rec.Metrics}
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			_ = cmd.Wait()
			<-p.logged
			t.Fatalf("presenced exited before listening:\n%s", p.logs)
		}
		p.url = "http://" + a.listen
		if a.metrics != "" {
			p.metricsURL = "http://" + a.metrics
		}
	case <-time.After(60 * time.Second):
		t.Fatal("presenced did not start listening")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := client.New(p.url).Ready(ctx)
		cancel()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("presenced not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call sends a request to the process and decodes the JSON answer.
func (p *process) call(t *testing.T, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := client.New(p.url, client.WithToken(token)).Call(ctx, method, path, b)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, resp.Body, err)
	}
	return resp.StatusCode, m
}

// TestBinary builds the presenced binary once and runs it as a user would.
func TestBinary(t *testing.T) {
	exe := buildPresenced(t)
	t.Run("VersionAndBadFlags", func(t *testing.T) { testVersionAndBadFlags(t, exe) })
	t.Run("SurvivesKill9", func(t *testing.T) { testSurvivesKill9(t, exe) })
	t.Run("MetricsListenAndLog", func(t *testing.T) { testMetricsListenAndLog(t, exe) })
}

// testMetricsListenAndLog runs presenced with --metrics-listen on the
// embedded NATS: the metrics listener serves /metrics with the build's
// version, the client listener does not; the log names the in-process
// connection, not the NATS client's default URL where nothing listens.
func testMetricsListenAndLog(t *testing.T, exe string) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("alice-token: \"@alice:example.org\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPresenced(t, exe, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data"), "--tokens-file", tokens)
	if p.metricsURL == "" {
		t.Fatal("no metrics_listen in the start-up log")
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	want := fmt.Sprintf(`presenced_build_info{goversion=%q,version="test-build"} 1`, runtime.Version())
	if st, body := get(p.metricsURL + "/metrics"); st != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("metrics listener /metrics: %d, no %s", st, want)
	}
	if st, _ := get(p.url + "/metrics"); st != http.StatusNotFound {
		t.Errorf("client listener /metrics: %d, want 404", st)
	}
	if st, _ := get(p.metricsURL + "/readyz"); st != http.StatusOK {
		t.Errorf("metrics listener /readyz: %d", st)
	}
	logs := p.stop(t)
	if strings.Contains(logs, "4222") || !strings.Contains(logs, `"msg":"NATS connected","server":"embedded (in process)"`) {
		t.Errorf("log of an embedded NATS connection:\n%s", logs)
	}
}

// testSurvivesKill9 runs presenced with a tokens file on a data directory,
// sets presence, kills it with SIGKILL and starts it again on the same
// directory: every state, status message and activity time is as before.
func testSurvivesKill9(t *testing.T, exe string) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("alice-token: \"@alice:example.org\"\nbob-token: \"@bob:example.org\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--tokens-file", tokens, "--server-name", "example.org"}
	const alicePath = "/_matrix/client/v3/presence/%40alice%3Aexample.org/status"
	const bobPath = "/_matrix/client/r0/presence/%40bob%3Aexample.org/status"

	p := startPresenced(t, exe, args...)
	before := time.Now().Truncate(time.Millisecond)
	if st, body := p.call(t, "PUT", alicePath, "alice-token", `{"presence":"online","status_msg":"survive"}`); st != 200 {
		t.Fatalf("PUT alice: %d %v", st, body)
	}
	if st, body := p.call(t, "PUT", bobPath, "bob-token", `{"presence":"unavailable"}`); st != 200 {
		t.Fatalf("PUT bob: %d %v", st, body)
	}
	after := time.Now()

	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown path runs
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	q := startPresenced(t, exe, args...)
	start := time.Now()
	st, alice := q.call(t, "GET", alicePath, "bob-token", "")
	end := time.Now()
	if st != 200 || alice["presence"] != "online" || alice["status_msg"] != "survive" {
		t.Fatalf("alice after kill -9: %d %v", st, alice)
	}
	ago := time.Duration(alice["last_active_ago"].(float64)) * time.Millisecond
	if lo, hi := start.Sub(after), end.Sub(before); ago < lo-time.Millisecond || ago > hi {
		t.Fatalf("alice last_active_ago %s after restart, want between %s and %s", ago, lo, hi)
	}
	if st, bob := q.call(t, "GET", bobPath, "alice-token", ""); st != 200 || bob["presence"] != "unavailable" {
		t.Fatalf("bob after kill -9: %d %v", st, bob)
	}
	if st, body := q.call(t, "PUT", alicePath, "alice-token", `{"presence":"offline"}`); st != 200 {
		t.Fatalf("PUT after restart: %d %v", st, body)
	}
}

// testVersionAndBadFlags: "presenced version" prints the version the binary
// was built with; an unknown flag fails at start with exit status 2.
func testVersionAndBadFlags(t *testing.T, exe string) {
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(exe, arg).Output()
		if err != nil || strings.TrimSpace(string(out)) != "presenced test-build" {
			t.Fatalf("%s: %q %v", arg, out, err)
		}
	}
	out, err := exec.Command(exe, "help").Output()
	if err != nil || !strings.Contains(string(out), "presenced healthcheck") {
		t.Fatalf("help: %q %v", out, err)
	}
	cmd := exec.Command(exe, "--no-such-flag")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(stderr.String(), "no-such-flag") {
		t.Fatalf("unknown flag: %v, stderr %q", err, stderr.String())
	}
}
