package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// presencedNode is a presenced process on an external NATS.
type presencedNode struct {
	name  string
	addr  string
	pprof string // the pprof listener of a profiling build, or ""
	proc  *proc
}

// tokensFile writes the static tokens of users and returns its path and
// each user's token.
func (r *run) tokensFile(users int) (string, []string, error) {
	yaml, tokens := staticTokens(users)
	path := filepath.Join(r.dir, fmt.Sprintf("tokens-%d.yaml", users))
	return path, tokens, os.WriteFile(path, yaml, 0o600)
}

// startPresenced starts a node on natsURL and, if wait, waits until it is
// ready. Rate limits are off: the load comes from few addresses and users
// update far faster than people do. extra is appended to the flags.
func (r *run) startPresenced(ctx context.Context, name, natsURL string, replicas int, tokens string, wait bool, extra ...string) (*presencedNode, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	n := &presencedNode{name: name, addr: addr}
	var env []string
	if r.cfg.cpuprofile != "" {
		if n.pprof, err = freeAddr(); err != nil {
			return nil, err
		}
		env = append(env, "PRESENCED_BENCH_PPROF="+n.pprof)
	}
	args := []string{"--listen", addr, "--nats-url", natsURL, "--server-name", benchServerName,
		"--node-name", name, "--tokens-file", tokens, "--tokens-reload-interval", "0",
		"--stream-replicas", fmt.Sprint(replicas), "--log-level", "warn",
		"--ratelimit-per-second", "0", "--ratelimit-auth-failures-per-second", "0"}
	args = append(args, extra...)
	if n.proc, err = r.procs.start(name, r.bins.presenced, args, env...); err != nil {
		return nil, err
	}
	if wait {
		if _, err := n.waitReady(ctx, 5*time.Minute); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (n *presencedNode) waitReady(ctx context.Context, timeout time.Duration) (time.Time, error) {
	return n.proc.waitHTTP(ctx, "http://"+n.addr+"/readyz", timeout)
}
