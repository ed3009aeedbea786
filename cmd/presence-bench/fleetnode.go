package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// fleetSyncTimeout is the --sync-timeout of the fleet phases' nodes: long,
// so that no device expires during a phase and every repeated heartbeat is
// younger than the absorbing granularity (a third of it, 200 s).
const fleetSyncTimeout = 10 * time.Minute

// fleetNode is a presenced node with its internal (fleet API) listener on,
// on a single nats-server of its own.
type fleetNode struct {
	*presencedNode
	internal string // address of --internal-listen
	secret   string // the Bearer token of the fleet API
	nats     *natsServer
	js       *jsConn // the harness's own connection, for stream info
	tokens   []string
}

// startFleetNode starts a nats-server and a presenced node with the fleet
// API on it, with static tokens for users (for PUTs through the public
// API), and waits until the node is ready.
func (r *run) startFleetNode(ctx context.Context, tag string, users int) (*fleetNode, error) {
	servers, err := r.natsCluster(ctx, tag, 1)
	if err != nil {
		return nil, err
	}
	js, err := connectJS(ctx, servers[0].url, 1)
	if err != nil {
		return nil, err
	}
	f := &fleetNode{nats: servers[0], js: js, secret: "presence-bench-fleet-secret-" + tag}
	secretFile := filepath.Join(r.dir, tag+"-internal-secret")
	if err := os.WriteFile(secretFile, []byte(f.secret+"\n"), 0o600); err != nil {
		js.close()
		return nil, err
	}
	tf, tokens, err := r.tokensFile(users)
	if err != nil {
		js.close()
		return nil, err
	}
	f.tokens = tokens
	if f.internal, err = freeAddr(); err != nil {
		js.close()
		return nil, err
	}
	f.presencedNode, err = r.startPresenced(ctx, tag+"-presenced", servers[0].url, 1, tf, true,
		"--internal-listen", f.internal, "--internal-secret-file", secretFile,
		"--sync-timeout", fleetSyncTimeout.String())
	if err != nil {
		js.close()
		return nil, err
	}
	return f, nil
}

func (f *fleetNode) close() { f.js.close() }

// lastSeq is the presence stream's last sequence: it moves only when an
// event is stored.
func (f *fleetNode) lastSeq(ctx context.Context) (uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := f.js.js.Stream(cctx, presenceStream(1).Name)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(cctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// metrics reads the node's /metrics from its internal listener.
func (f *fleetNode) metrics(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.internal+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	return b.Bytes(), nil
}

// labelledMetric is the value of the sample of name in a Prometheus text
// exposition whose labels include every one of labels (each `k="v"`); 0
// when there is none (a counter not yet incremented is not exposed).
func labelledMetric(exposition []byte, name string, labels ...string) float64 {
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		set, value := "", rest
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				continue
			}
			set, value = rest[1:end], rest[end+1:]
		}
		match := true
		for _, l := range labels {
			if !hasLabel(set, l) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err == nil {
			return v
		}
	}
	return 0
}

// hasLabel reports whether the label set `a="x",b="y"` holds
// label (`a="x"`). Label values the node exposes hold no commas.
func hasLabel(set, label string) bool {
	for _, l := range strings.Split(set, ",") {
		if strings.TrimSpace(l) == label {
			return true
		}
	}
	return false
}

// cpuTime is the user plus system CPU time a process has used, from
// /proc/<pid>/stat (utime and stime, in clock ticks of 1/100 s: USER_HZ,
// which Linux reports to user space as 100 on every architecture Go runs
// presenced on).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

func (p *proc) cpu() (time.Duration, error) { return cpuTime(p.cmd.Process.Pid) }
