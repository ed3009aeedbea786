//go:build homeserver

package homeserver_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// process is one command the test runs. Its output goes to a log file that
// the test prints when it fails, so that a failure shows what every
// component said.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // set before exited is closed
}

// startProcess starts cmd and stops it when the test ends (SIGTERM, then
// SIGKILL after 15 seconds). Cleanups run last-in first-out, so the
// components stop in the reverse order of their start.
func startProcess(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("----- %s (%s) -----\n%s", name, p.exitStatus(), p.output())
		}
	})
	return p
}

// running reports whether the process has not exited.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// exitStatus says how the process ended, or that it still runs.
func (p *process) exitStatus() string {
	if p.running() {
		return "running"
	}
	if p.err == nil {
		return "exited 0"
	}
	return p.err.Error()
}

// output is everything the process has written so far.
func (p *process) output() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// stop ends the process gracefully, or by force after 15 seconds.
func (p *process) stop() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

// kill ends the process with SIGKILL: it gets no chance to finish what it
// is doing or to clean up.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// errExited is returned by a readiness check of a process that has died.
var errExited = errors.New("the process exited")

// eventually polls check every 100ms until it returns nil, and fails the
// test with check's last error once within has passed. A check returning
// an error wrapping errExited fails the test at once.
func eventually(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if errors.Is(err, errExited) {
			t.Fatalf("%s: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// holds checks, every 200ms for the whole of d, that check keeps returning
// nil: for what must stay true, where eventually is for what must become
// true.
func holds(t *testing.T, d time.Duration, what string, check func() error) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if err := check(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for a process that takes its listen address as a flag.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// alive is a readiness check's first step: an error if p has exited.
func (p *process) alive() error {
	if !p.running() {
		return fmt.Errorf("%s: %w (%s)", p.name, errExited, p.exitStatus())
	}
	return nil
}
