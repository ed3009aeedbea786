//go:build homeserver

package homeserver_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository's top directory, seen from this package.
const repoRoot = "../.."

// The names presenced's events are kept under on the shared NATS.
const (
	presencedStream  = "PRESENCE"
	presencedSubject = "presence"
)

// syncTimeout is presenced's --sync-timeout: short, so that the test sees
// a user who stops syncing go offline within seconds.
const syncTimeout = 3 * time.Second

// binaries are the project's commands, built for this test.
type binaries struct {
	presenced, bridge string
}

// buildBinaries builds cmd/presenced and cmd/presence-dendrite from this
// checkout.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/presenced", "./cmd/presence-dendrite")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return binaries{presenced: filepath.Join(dir, "presenced"), bridge: filepath.Join(dir, "presence-dendrite")}
}

// hasFlag reports whether the command lists flag in its -h output.
func hasFlag(t *testing.T, exe, flag string) bool {
	t.Helper()
	out, _ := exec.Command(exe, "-h").CombinedOutput() // -h exits 0 or 2 depending on the parser
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "-"+flag {
			return true
		}
	}
	return false
}

// presenced is a running presenced node.
type presenced struct {
	addr     string // public listener: the presence API, /metrics
	internal string // internal listener (the fleet API); empty when off
	proc     *process
}

// presencedOptions are what the test chooses per run.
type presencedOptions struct {
	natsURL      string
	homeserver   string // Dendrite's client API, asked whose a token is
	secretFile   string // the internal listener's shared secret
	withInternal bool   // run the internal listener (the fleet API)
}

// startPresenced runs one node on the shared NATS with a stream of its own,
// taking users and devices from the homeserver's whoami. The NATS is the
// one Dendrite and the bridge use, as a fleet would run one NATS cluster
// for all of them (the stream names and subjects do not overlap), and it
// lets the test read presenced's stream to check that a 200 to a PUT was
// stored.
func startPresenced(t *testing.T, exe string, o presencedOptions) *presenced {
	t.Helper()
	p := &presenced{addr: freeAddr(t)}
	args := []string{
		"--listen", p.addr,
		"--nats-url", o.natsURL,
		"--stream", presencedStream,
		"--subject-prefix", presencedSubject,
		"--server-name", serverName,
		"--node-name", "e2e-node",
		"--auth", "homeserver",
		"--homeserver-url", "http://" + o.homeserver,
		"--real-ip-header", "X-Forwarded-For",
		"--log-level", "debug",
	}
	if o.withInternal {
		p.internal = freeAddr(t)
		args = append(args,
			"--internal-listen", p.internal,
			"--internal-secret-file", o.secretFile,
			"--sync-timeout", syncTimeout.String())
	}
	p.proc = startProcess(t, "presenced", exec.Command(exe, args...))
	eventually(t, 30*time.Second, "presenced ready", func() error {
		if err := p.proc.alive(); err != nil {
			return err
		}
		return httpStatus("http://"+p.addr+"/readyz", http.StatusOK)
	})
	return p
}

// presenceGETs is how many presence GETs presenced has answered 200, from
// its own /metrics (read directly, not through nginx).
func (p *presenced) presenceGETs(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatalf("presenced /metrics: %v", err)
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "presenced_http_requests_total{") ||
			!strings.Contains(line, `route="presence_get"`) || !strings.Contains(line, `code="200"`) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			n += v
		}
	}
	return n
}

// writeSecret writes the internal listener's shared secret to a file that
// presenced and the bridge both read.
func writeSecret(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "internal-secret")
	if err := os.WriteFile(path, []byte("e2e-internal-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
