package main

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// singleNode runs the GET, PUT and mixed phases on one presenced node and a
// single nats-server, interleaved round by round with the bare baselines
// (on the same nats-server) and Dendrite.
func (r *run) singleNode(ctx context.Context) error {
	defer r.procs.stopAll()
	n := r.cfg.users
	servers, err := r.natsCluster(ctx, "single", 1)
	if err != nil {
		return err
	}
	ns := servers[0]
	took, err := seedAt(ctx, ns.url, 1, 0, n)
	if err != nil {
		return err
	}
	r.logf("seeded %d users in %.1fs", n, took.Seconds())
	tf, tokens, err := r.tokensFile(n)
	if err != nil {
		return err
	}
	node, err := r.startPresenced(ctx, "presenced", ns.url, 1, tf, true)
	if err != nil {
		return err
	}
	ours := newService("presenced", node.addr, n, tokens, tokens[0])
	ours.procs = []*proc{node.proc, ns.proc}

	// The GET baseline twice: as the target has it (the same map lookup and
	// JSON), and answering with presenced's headers too, so that each run
	// tells what the answer's bytes cost from what presenced's code costs.
	bareGet, err := r.startBareGet(ctx, "bareget", "bare", n, tokens)
	if err != nil {
		return err
	}
	sameGet, err := r.startBareGet(ctx, "bareget-same", "bare-same", n, tokens, "-matrix-headers")
	if err != nil {
		return err
	}
	putProc, err := r.startBaseline(ctx, "bareput", r.bins.bareput, "/readyz", "-nats-url", ns.url)
	if err != nil {
		return err
	}
	barePut := newService("bare", putProc.addr, n, tokens, tokens[0])
	barePut.procs = []*proc{putProc.proc, ns.proc}

	var den *service
	if r.cfg.dendrite != "off" {
		users := min(n, r.cfg.dendriteMax)
		d, err := r.startDendrite(ctx, users)
		if err != nil {
			return fmt.Errorf("dendrite: %w", err)
		}
		if d == nil {
			r.res.notes = append(r.res.notes, "Dendrite: not built (-dendrite cached found nothing in the cache of scripts/dendrite.sh)")
		} else {
			den = newService("dendrite", d.addr, users, d.tokens, d.tokens[0])
			den.procs = []*proc{d.proc}
			r.res.dendriteUsers = users
			if err := r.dendriteInitialPresence(ctx, den); err != nil {
				return err
			}
		}
	}

	c := r.cfg
	if c.runs("get") {
		r.res.get = r.sideBySide(ctx, "GET", []*service{ours, bareGet, sameGet, den}, getOp, nil)
	}
	if c.runs("put") {
		putOps := func(s *service) op { return putOp(s, c.conns) }
		r.res.put = r.sideBySide(ctx, "PUT", []*service{ours, barePut}, putOps, func() {
			if den != nil {
				a := r.appliedPut(ctx, den)
				r.res.dendriteApply = &a
				r.logf("PUT dendrite: %d answered (%.0f/s), all visible after %.1fs (%.0f applied/s), %d never visible",
					a.answered, a.answeredRate, a.visibleAfter.Seconds(), a.rate(), a.missing)
			}
		})
	}
	if c.runs("mix") {
		for round := range c.rounds {
			m := startCPU(ours.procs...)
			res := runClosed(ctx, ours.addr, c.conns, c.warmup, c.duration, mixOp(ours, c.conns, c.mixPut))
			res.cpu = m.stop(res.total())
			r.res.mix = append(r.res.mix, res)
			r.logLoad(fmt.Sprintf("mix round %d presenced", round+1), &res)
		}
	}
	if c.runs("put") || c.runs("mix") {
		for _, m := range ours.lastMsg {
			if m != "" {
				r.res.checked++
			}
		}
		r.res.dropped, _ = awaitVisible(ctx, ours, 8, time.Now())
		r.logf("presenced: %d of %d written users checked show their last acknowledged value", r.res.checked-r.res.dropped, r.res.checked)
	}
	if c.cpuprofile != "" {
		if c.runs("get") {
			r.profileLoad(ctx, node, "get", func(d time.Duration) {
				runClosed(ctx, ours.addr, c.conns, 0, d, getOp(ours))
			})
		}
		if c.runs("put") {
			r.profileLoad(ctx, node, "put", func(d time.Duration) {
				runClosed(ctx, ours.addr, c.conns, 0, d, putOp(ours, c.conns))
			})
		}
	}
	return ctx.Err()
}

// sideBySide runs op against each of services (nil ones are skipped) for
// -rounds × -duration in all, in slices of about -slice that alternate
// between them, and returns each one's results by name, one per slice in
// the order they ran. The slices are short because a shared host's speed
// changes by tens of percent over tens of seconds: services measured a few
// seconds apart see the same machine, and the targets take the median of
// the ratios of the slices run side by side, which a change of speed
// between two slices moves only as one slice among many. halfway, when not
// nil, runs once after half the slices.
func (r *run) sideBySide(ctx context.Context, phase string, services []*service, op func(*service) op, halfway func()) map[string][]loadResult {
	c := r.cfg
	length, warmup, perRound := c.slices()
	res := map[string][]loadResult{}
	total := c.rounds * perRound
	for i := range total {
		for _, s := range rotate(services, i) {
			if s == nil {
				continue
			}
			m := startCPU(s.procs...)
			lr := runClosed(ctx, s.addr, c.conns, warmup, length, op(s))
			lr.cpu = m.stop(lr.total())
			res[s.name] = append(res[s.name], lr)
			r.logLoad(fmt.Sprintf("%s slice %d/%d %s", phase, i+1, total, s.name), &lr)
		}
		if halfway != nil && i == total/2 {
			halfway()
		}
		if ctx.Err() != nil {
			break
		}
	}
	return res
}

// rotate returns the services in the order of the given round: each round
// starts one further along, so that none always runs first, right after
// another's load, or last.
func rotate(services []*service, round int) []*service {
	k := round % len(services)
	return append(services[k:len(services):len(services)], services[:k]...)
}

// startBareGet starts bareget (as process name) with extra arguments and
// returns it as the service called service.
func (r *run) startBareGet(ctx context.Context, name, service string, users int, tokens []string, extra ...string) (*service, error) {
	b, err := r.startBaseline(ctx, name, r.bins.bareget, presencePath(0), append([]string{"-users", strconv.Itoa(users)}, extra...)...)
	if err != nil {
		return nil, err
	}
	s := newService(service, b.addr, users, tokens, tokens[0])
	s.procs = []*proc{b.proc}
	return s, nil
}

// baseline is a running baseline program and the address it serves.
type baseline struct {
	addr string
	proc *proc
}

// startBaseline starts a baseline program on a free address and waits for
// path to answer 200.
func (r *run) startBaseline(ctx context.Context, name, bin, path string, args ...string) (baseline, error) {
	addr, err := freeAddr()
	if err != nil {
		return baseline{}, err
	}
	p, err := r.procs.start(name, bin, append([]string{"-listen", addr}, args...))
	if err != nil {
		return baseline{}, err
	}
	_, err = p.waitHTTP(ctx, "http://"+addr+path, time.Minute)
	return baseline{addr: addr, proc: p}, err
}

// dendriteInitialPresence sets every Dendrite account online once and
// waits until Dendrite shows it, so that GETs read stored presence.
func (r *run) dendriteInitialPresence(ctx context.Context, den *service) error {
	hc := newHTTPConn(den.addr)
	defer hc.close()
	for i := range den.users() {
		msg := "initial-" + strconv.Itoa(i)
		status, _, err := hc.put(den.paths[i], den.tokens[i], putBody(msg))
		if err := statusErr(status, err); err != nil {
			return fmt.Errorf("dendrite PUT: %w", err)
		}
		den.lastMsg[i] = msg
	}
	if missing, _ := awaitVisible(ctx, den, 4, time.Now().Add(4*time.Minute)); missing > 0 {
		return fmt.Errorf("dendrite: %d initial presence updates never became visible", missing)
	}
	return nil
}

// appliedPut runs a closed-loop PUT phase against s and then reads every
// written user until it shows its last value: what was applied, not what
// was answered. Dendrite answers PUTs before it applies them and drops
// what it has not applied after 5 minutes, so the wait stops at 4.
func (r *run) appliedPut(ctx context.Context, s *service) applied {
	s.clearLast()
	t0 := time.Now()
	res := runClosed(ctx, s.addr, r.cfg.conns, 0, r.cfg.duration, putOp(s, r.cfg.conns))
	missing, last := awaitVisible(ctx, s, 4, t0.Add(4*time.Minute))
	return applied{answered: res.kinds[kindPUT].n, answeredRate: res.rate(kindPUT), visibleAfter: last.Sub(t0), missing: missing}
}

func (r *run) logLoad(what string, res *loadResult) {
	for k := range numKinds {
		kr := &res.kinds[k]
		if kr.n == 0 && kr.errs == 0 {
			continue
		}
		l := kr.h.latencies()
		msg := fmt.Sprintf("%s %s: %.0f/s p50 %s p99 %s p99.9 %s, %d errors", what, kindNames[k], res.rate(k),
			ms(l.p50), ms(l.p99), ms(l.p999), kr.errs)
		if kr.firstErr != "" {
			msg += " (first: " + kr.firstErr + ")"
		}
		r.logf("%s", msg)
	}
	if s := res.cpu.String(); s != "" {
		r.logf("%s %s", what, s)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
