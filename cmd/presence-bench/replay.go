package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// coldStart seeds a single nats-server's stream up to each size of
// -replay-users in turn and, at each size, restarts the server on its
// files, then alternates two cold starts on the same files (which goes
// first swaps every round): presenced
// started until /readyz answers 200 (the replay has caught up), and
// barereplay, the count-only ordered consumer, started until it exits.
func (r *run) coldStart(ctx context.Context) error {
	defer r.procs.stopAll()
	c := r.cfg
	servers, err := r.natsCluster(ctx, "replay", 1)
	if err != nil {
		return err
	}
	ns := servers[0]
	tf, _, err := r.tokensFile(1)
	if err != nil {
		return err
	}
	seeded := 0
	for _, size := range c.replayUsers {
		res := replayResult{users: size}
		res.seedTook, err = seedAt(ctx, ns.url, 1, seeded, size)
		if err != nil {
			return err
		}
		seeded = size
		r.logf("cold start: seeded up to %d users in %.1fs", size, res.seedTook.Seconds())
		if res.natsRecovery, err = ns.restart(ctx, r); err != nil {
			return err
		}
		// The first consumer after a restart loads the stream's blocks: an
		// untimed replay first, so that neither side pays for it.
		if _, _, err := r.rawReplay(ctx, ns.url, size, false); err != nil {
			return err
		}
		for round := range c.replayRounds {
			var raw, rawCB, took time.Duration
			var rss int64
			// CPU time of each side's consumer and of the nats-server
			// serving it: what bounds the replay on shared cores.
			var cpu, serverCPU [3]time.Duration
			for side := range 3 {
				k := (round + side) % 3
				server0 := ns.proc.cpuTime()
				switch k {
				case 0:
					raw, cpu[k], err = r.rawReplay(ctx, ns.url, size, false)
				case 1:
					rawCB, cpu[k], err = r.rawReplay(ctx, ns.url, size, true)
				default:
					took, rss, cpu[k], err = r.nodeReplay(ctx, ns.url, tf, size, "")
				}
				if err != nil {
					return err
				}
				serverCPU[k] = ns.proc.cpuTime() - server0
			}
			res.raw = append(res.raw, raw)
			res.rawCallback = append(res.rawCallback, rawCB)
			res.node = append(res.node, took)
			res.nodeRSS = rss
			r.logf("cold start %d users, round %d: presenced ready in %s, raw consumer %s (callback %s) (node RSS %d MiB)",
				size, round+1, took.Round(time.Millisecond), raw.Round(time.Millisecond), rawCB.Round(time.Millisecond), rss>>20)
			r.logf("cold start %d users, round %d: CPU presenced %s + nats-server %s, raw %s + %s, callback %s + %s",
				size, round+1, cpu[2], serverCPU[2], cpu[0], serverCPU[0], cpu[1], serverCPU[1])
		}
		res.natsRSS = ns.proc.rss()
		res.natsDisk = diskUsage(ns.storeDir)
		if c.cpuprofile != "" && size == c.replayUsers[len(c.replayUsers)-1] {
			if _, _, _, err := r.nodeReplay(ctx, ns.url, tf, size, "replay"); err != nil {
				return err
			}
		}
		r.res.replay = append(r.res.replay, res)
	}
	return ctx.Err()
}

// rawReplay runs barereplay on the stream (with -callback if callback) and
// returns the time from its start to its exit and the CPU time it used.
func (r *run) rawReplay(ctx context.Context, url string, want int, callback bool) (time.Duration, time.Duration, error) {
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, r.bins.barereplay, "-nats-url", url, fmt.Sprintf("-callback=%v", callback))
	out, err := cmd.Output()
	took := time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("barereplay: %w", err)
	}
	var n int
	if _, err := fmt.Sscanf(string(out), "%d messages", &n); err != nil || n != want {
		return 0, 0, fmt.Errorf("barereplay counted %q, want %d messages", strings.TrimSpace(string(out)), want)
	}
	return took, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// nodeReplay starts presenced on the stream, waits until it is ready,
// checks it holds want users, and stops it. It returns the time from start
// to ready, its resident memory and the CPU time it used until then. With a profile name, the
// node is profiled from its start for a little longer than the replay is
// expected to take.
func (r *run) nodeReplay(ctx context.Context, url, tokens string, want int, profile string) (time.Duration, int64, time.Duration, error) {
	t0 := time.Now()
	n, err := r.startPresenced(ctx, "presenced-replay", url, 1, tokens, false)
	if err != nil {
		return 0, 0, 0, err
	}
	defer n.proc.stop()
	var prof func()
	if profile != "" {
		prof = r.startProfile(ctx, n, profile, r.replayProfileSeconds())
	}
	ready, err := n.waitReady(ctx, 10*time.Minute)
	if err != nil {
		return 0, 0, 0, err
	}
	took := ready.Sub(t0)
	cpu := n.proc.cpuTime()
	rss := n.proc.rss()
	if prof != nil {
		prof()
	}
	if got, err := projectionUsers(n.addr); err != nil || got != want {
		return 0, 0, 0, fmt.Errorf("presenced replayed %d users (%v), want %d", got, err, want)
	}
	return took, rss, cpu, nil
}

// replayProfileSeconds covers the slowest node replay measured so far.
func (r *run) replayProfileSeconds() int {
	longest := time.Second
	for _, res := range r.res.replay {
		for _, d := range res.node {
			longest = max(longest, d)
		}
	}
	return int(longest.Seconds()*1.5) + 1
}

// projectionUsers reads presenced_projection_users from the node's metrics.
func projectionUsers(addr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return metricValue(resp.Body, "presenced_projection_users")
}

func metricValue(body io.Reader, name string) (int, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}
