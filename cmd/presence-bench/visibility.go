package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// visibilityPercents are the PUT rates of the visibility phase, in percent
// of the measured maximum.
var visibilityPercents = []int{10, 50, 90}

// probers is how many users are kept out of the background load to
// measure visibility; each has its own connections to node A and node B.
const probers = 4

// visibility runs three presenced nodes, each on its own server of a
// 3-server JetStream cluster, with the stream replicated 3 times. It
// measures node A's closed-loop PUT maximum, then, at 10, 50 and 90 % of
// it, the time from sending a PUT to node A until a GET on node B shows it.
func (r *run) visibility(ctx context.Context) error {
	defer r.procs.stopAll()
	c := r.cfg
	n := c.users
	servers, err := r.natsCluster(ctx, "cluster", 3)
	if err != nil {
		return err
	}
	took, err := seedAt(ctx, servers[0].url, 3, 0, n)
	if err != nil {
		return err
	}
	r.logf("3 nodes: seeded %d users (3 replicas) in %.1fs", n, took.Seconds())
	tf, tokens, err := r.tokensFile(n)
	if err != nil {
		return err
	}
	nodes := make([]*presencedNode, 3)
	for i, s := range servers {
		if nodes[i], err = r.startPresenced(ctx, "node-"+string(rune('a'+i)), s.url, 3, tf, false); err != nil {
			return err
		}
	}
	for _, nd := range nodes {
		if _, err := nd.waitReady(ctx, 5*time.Minute); err != nil {
			return err
		}
	}
	a := newService("node-a", nodes[0].addr, n, tokens, tokens[0])
	b := newService("node-b", nodes[1].addr, n, tokens, tokens[0])
	// The background load writes the users from probers on.
	bg := putOpFrom(a, c.conns, probers)

	v := &visibilityResult{}
	v.maxPut = runClosed(ctx, a.addr, c.conns, c.warmup, c.duration, bg)
	r.logLoad("3 nodes: max PUT on node A", &v.maxPut)
	max := v.maxPut.rate(kindPUT)
	if max <= 0 {
		return fmt.Errorf("node A answered no PUT: %s", v.maxPut.kinds[kindPUT].firstErr)
	}
	for _, pct := range visibilityPercents {
		rate := max * float64(pct) / 100
		lvl := r.visibilityLevel(ctx, a, b, bg, pct, rate)
		v.levels = append(v.levels, lvl)
		l := lvl.vis.latencies()
		r.logf("3 nodes at %d%% (%.0f PUT/s asked, %.0f done): A->B visible p50 %s p99 %s p99.9 %s over %d probes, %d timed out",
			pct, rate, lvl.put.rate(kindPUT), ms(l.p50), ms(l.p99), ms(l.p999), lvl.probes, lvl.timedOut)
	}
	r.res.vis = v
	return ctx.Err()
}

// visibilityLevel runs an open-loop PUT load on node A at rate, of which
// the probers' PUTs are a part: each prober sends a PUT of its own user to
// node A at its own pace and reads the user on node B, back to back, until
// B shows the new value. The time is taken from when the PUT was due.
func (r *run) visibilityLevel(ctx context.Context, a, b *service, bg op, pct int, rate float64) visibilityLevel {
	c := r.cfg
	probeRate := min(50, rate/5)
	lvl := visibilityLevel{percent: pct, rate: rate, vis: newHist()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now().Add(c.warmup)
	end := start.Add(c.duration)
	for p := range probers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ca, cb := newHTTPConn(a.addr), newHTTPConn(b.addr)
			defer ca.close()
			defer cb.close()
			h := newHist()
			probes, timedOut := 0, 0
			interval := time.Duration(float64(probers) / probeRate * float64(time.Second))
			due := time.Now().Add(time.Duration(p) * interval / probers)
			for seq := 0; due.Before(end) && ctx.Err() == nil; seq++ {
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				msg := "probe" + strconv.Itoa(p) + "-" + strconv.Itoa(pct) + "-" + strconv.Itoa(seq)
				status, _, err := ca.put(a.paths[p], a.tokens[p], putBody(msg))
				if statusErr(status, err) == nil {
					seen := false
					for limit := time.Now().Add(10 * time.Second); time.Now().Before(limit); {
						status, body, err := cb.get(b.paths[p], b.getToken)
						if err == nil && status == 200 && shows(body, msg) {
							seen = true
							break
						}
					}
					if !due.Before(start) {
						probes++
						if seen {
							h.record(time.Since(due))
						} else {
							timedOut++
						}
					}
				} else if !due.Before(start) {
					probes++
					timedOut++
				}
				due = due.Add(interval)
			}
			mu.Lock()
			lvl.vis.merge(h)
			lvl.probes += probes
			lvl.timedOut += timedOut
			mu.Unlock()
		}()
	}
	lvl.put = runOpen(ctx, a.addr, c.conns, rate-probeRate, c.warmup, c.duration, bg)
	wg.Wait()
	return lvl
}
