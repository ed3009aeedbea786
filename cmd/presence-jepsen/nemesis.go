package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// faultEvent is one fault the nemesis injected, with when it began and
// ended (nanoseconds since the run began).
type faultEvent struct {
	Kind    string   `json:"kind"`
	Targets []string `json:"targets"`
	Detail  string   `json:"detail,omitempty"`
	Start   int64    `json:"start"`
	End     int64    `json:"end"`
}

// The kinds of fault.
const (
	faultKillNode      = "kill-node"      // kill -9 a presence node, restart it
	faultKillNATS      = "kill-nats"      // kill (-9 or TERM) a NATS server, restart it
	faultPartNode      = "partition-node" // cut or blackhole a node from every NATS server
	faultPartNATS      = "partition-nats" // cut or blackhole a NATS server from the other two
	faultPause         = "pause"          // SIGSTOP a process, SIGCONT it
	faultLeaderStalled = "leader-stop-node-stalled"
)

// defaultFaults() are the kinds the nemesis draws from by default; kill-nats is
// listed twice, so NATS servers die more often than the rest.
func defaultFaults() []string {
	return []string{faultKillNode, faultKillNATS, faultKillNATS, faultPartNode, faultPartNATS, faultPause, faultLeaderStalled}
}

// parseFaults reads a comma-separated list of fault kinds.
func parseFaults(list string) ([]string, error) {
	var kinds []string
	for _, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(defaultFaults(), k) {
			return nil, fmt.Errorf("unknown fault %q (known: %s)", k, strings.Join(slices.Compact(slices.Clone(defaultFaults())), ", "))
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("no fault kinds in %q", list)
	}
	return kinds, nil
}

// nemesis injects one fault at a time, on a schedule drawn from its seed:
// which fault, which target and how long it lasts. At most one NATS server
// is faulty at a time (a minority); presence nodes may all be.
type nemesis struct {
	rng    *rand.Rand
	kinds  []string
	c      *natsCluster
	nodes  []*presenceNode
	h      *history
	stream string
	log    *slog.Logger

	mu     sync.Mutex
	faults []faultEvent
}

func newNemesis(seed int64, kinds []string, c *natsCluster, nodes []*presenceNode, h *history, log *slog.Logger) *nemesis {
	return &nemesis{rng: rand.New(rand.NewPCG(uint64(seed), 0x6e656d65)), kinds: kinds, c: c, nodes: nodes, h: h, stream: "PRESENCE", log: log}
}

// dur is a random duration in [lo, hi).
func (n *nemesis) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.rng.Int64N(int64(hi-lo)))
}

// hold waits d or until ctx ends.
func hold(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// run injects faults until ctx ends, then heals everything.
func (n *nemesis) run(ctx context.Context) {
	defer n.healAll()
	hold(ctx, n.dur(time.Second, 3*time.Second))
	for ctx.Err() == nil {
		n.one(ctx)
		hold(ctx, n.dur(time.Second, 4*time.Second))
	}
}

// one draws a fault and injects it for its duration.
func (n *nemesis) one(ctx context.Context) {
	kind := n.kinds[n.rng.IntN(len(n.kinds))]
	node := n.nodes[n.rng.IntN(len(n.nodes))]
	ev := faultEvent{Kind: kind, Start: n.h.now()}
	switch kind {
	case faultKillNode:
		ev.Targets = []string{node.proc.name}
		node.proc.stop(syscall.SIGKILL, time.Second)
		hold(ctx, n.dur(500*time.Millisecond, 4*time.Second))
		n.restart(node.proc)
	case faultKillNATS:
		i := n.pickServer()
		sig, sigName := syscall.SIGKILL, "SIGKILL"
		if n.rng.IntN(2) == 0 {
			sig, sigName = syscall.SIGTERM, "SIGTERM"
		}
		ev.Targets, ev.Detail = []string{n.c.servers[i].name}, sigName
		n.c.servers[i].stop(sig, 10*time.Second)
		hold(ctx, n.dur(2*time.Second, 8*time.Second))
		n.restart(n.c.servers[i])
	case faultPartNode:
		bh := n.rng.IntN(2) == 0
		ev.Targets, ev.Detail = []string{node.proc.name}, cutOrBlackhole(bh)
		node.partition(bh)
		hold(ctx, n.dur(2*time.Second, 8*time.Second))
		node.heal()
	case faultPartNATS:
		i := n.pickServer()
		bh := n.rng.IntN(2) == 0
		ev.Targets, ev.Detail = []string{n.c.servers[i].name}, cutOrBlackhole(bh)
		n.c.isolate(i, bh)
		hold(ctx, n.dur(3*time.Second, 10*time.Second))
		n.c.healRoutes()
	case faultPause:
		var p *process
		if n.rng.IntN(2) == 0 {
			p = node.proc
		} else {
			p = n.c.servers[n.pickServer()]
		}
		ev.Targets = []string{p.name}
		p.pause()
		hold(ctx, n.dur(time.Second, 6*time.Second))
		p.resume()
	case faultLeaderStalled:
		// The schedule of the violation in issue 11: a node stalls (paused
		// or cut off) while the stream leader shuts down; the node comes
		// back during or after the election.
		i := n.c.streamLeader(n.stream)
		if i < 0 {
			i = n.rng.IntN(clusterSize)
		}
		ev.Targets = []string{node.proc.name, n.c.servers[i].name}
		stall, unstall := node.proc.pause, node.proc.resume
		ev.Detail = "pause node, SIGTERM leader"
		if n.rng.IntN(2) == 0 {
			stall, unstall = func() { node.partition(true) }, node.heal
			ev.Detail = "blackhole node, SIGTERM leader"
		}
		stall()
		hold(ctx, n.dur(200*time.Millisecond, 2*time.Second))
		n.c.servers[i].stop(syscall.SIGTERM, 10*time.Second)
		hold(ctx, n.dur(500*time.Millisecond, 5*time.Second))
		unstall()
		hold(ctx, n.dur(time.Second, 4*time.Second))
		n.restart(n.c.servers[i])
	}
	ev.End = n.h.now()
	n.log.Info("fault", "kind", ev.Kind, "targets", ev.Targets, "detail", ev.Detail,
		"seconds", time.Duration(ev.End-ev.Start).Round(time.Millisecond).Seconds())
	n.mu.Lock()
	n.faults = append(n.faults, ev)
	n.mu.Unlock()
}

// pickServer picks a NATS server: the stream leader more often than chance.
func (n *nemesis) pickServer() int {
	if n.rng.IntN(3) < 2 {
		if i := n.c.streamLeader(n.stream); i >= 0 {
			return i
		}
	}
	return n.rng.IntN(clusterSize)
}

func (n *nemesis) restart(p *process) {
	if err := p.start(); err != nil {
		n.log.Error("restart failed", "process", p.name, "err", err)
	}
}

// healAll undoes every fault: links healed, processes resumed and started.
func (n *nemesis) healAll() {
	n.c.healRoutes()
	for _, pn := range n.nodes {
		pn.heal()
	}
	for _, p := range n.processes() {
		p.resume()
		n.restart(p)
	}
}

func (n *nemesis) processes() []*process {
	ps := slices.Clone(n.c.servers)
	for _, pn := range n.nodes {
		ps = append(ps, pn.proc)
	}
	return ps
}

// log returns the faults injected so far.
func (n *nemesis) events() []faultEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.faults)
}

// impaired reports whether process name was killed, paused or stalled at
// some time in [from, to]: a request to it may then hang or fail with no
// answer, legitimately.
func impaired(faults []faultEvent, name string, from, to int64) bool {
	for _, f := range faults {
		if f.Kind != faultKillNode && f.Kind != faultPause && f.Kind != faultLeaderStalled {
			continue
		}
		// A restarted node takes a moment to listen; count it as impaired
		// for a little after the fault ends.
		if slices.Contains(f.Targets, name) && f.Start <= to && from <= f.End+int64(2*time.Second) {
			return true
		}
	}
	return false
}

func cutOrBlackhole(bh bool) string {
	if bh {
		return "blackhole"
	}
	return "cut"
}

func (f faultEvent) String() string {
	return fmt.Sprintf("%s %v %s", f.Kind, f.Targets, f.Detail)
}
