package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report prints the table and the targets, and says whether a target
// failed.
func (r *run) report() (failed bool) {
	c, res := r.cfg, &r.res
	length, warmup, perRound := c.slices()
	fmt.Fprintf(r.out, "\npresence-bench: %d users, %d connections (closed loop), %s phases after %s warm-up, %d rounds; GET and PUT side by side in %d interleaved slices of %s after %s warm-up\n",
		c.users, c.conns, c.duration, c.warmup, c.rounds, c.rounds*perRound, length, warmup)
	fmt.Fprintf(r.out, "load average before %s, after %s (2 cores shared with everything else on the machine)\n\n", res.loadBefore, res.loadAfter)
	tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tSERVER\tREQ/S\tP50\tP99\tP99.9\tERRORS\tNOTE")
	loadRow := func(phase, server string, rounds []loadResult, kind int, note string) {
		if len(rounds) == 0 {
			return
		}
		h, errs := newHist(), uint64(0)
		for i := range rounds {
			h.merge(rounds[i].kinds[kind].h)
			errs += rounds[i].kinds[kind].errs
		}
		l := h.latencies()
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%d\t%s\n", phase, server, medianRate(rounds, kind), ms(l.p50), ms(l.p99), ms(l.p999), errs, note)
	}
	dnote := fmt.Sprintf("%d accounts", res.dendriteUsers)
	loadRow("GET", "presenced", res.get["presenced"], kindGET, "median of slices")
	loadRow("GET", "bare", res.get["bare"], kindGET, "scripts/baseline/bareget")
	loadRow("GET", "bare-same", res.get["bare-same"], kindGET, "bareget -matrix-headers: presenced's answer, byte for byte")
	loadRow("GET", "dendrite", res.get["dendrite"], kindGET, dnote)
	loadRow("PUT", "presenced", res.put["presenced"], kindPUT, "200 = stored and applied")
	loadRow("PUT", "bare", res.put["bare"], kindPUT, "scripts/baseline/bareput")
	if a := res.dendriteApply; a != nil {
		fmt.Fprintf(tw, "PUT applied\tdendrite\t%.0f\t\t\t\t%d\tanswered %d at %.0f/s; all visible %.1fs after start (%s)\n",
			a.rate(), a.missing, a.answered, a.answeredRate, a.visibleAfter.Seconds(), dnote)
	}
	mixName := fmt.Sprintf("mix %.0f/%.0f", 100*(1-c.mixPut), 100*c.mixPut)
	if len(res.mix) > 0 {
		totals := make([]float64, len(res.mix))
		for i := range res.mix {
			totals[i] = res.mix[i].total()
		}
		loadRow(mixName+" GET", "presenced", res.mix, kindGET, fmt.Sprintf("%.0f req/s in all", median(totals)))
		loadRow(mixName+" PUT", "presenced", res.mix, kindPUT, "")
	}
	if res.checked > 0 {
		fmt.Fprintf(tw, "PUT dropped\tpresenced\t\t\t\t\t%d\tof %d users written, checked by GET after the phases\n", res.dropped, res.checked)
	}
	if v := res.vis; v != nil {
		loadRow("PUT max, 3 nodes", "node A", []loadResult{v.maxPut}, kindPUT, "3-server JetStream, replicas 3")
		for _, lvl := range v.levels {
			l := lvl.vis.latencies()
			done := lvl.put.rate(kindPUT) + float64(lvl.probes)/c.duration.Seconds()
			pl := lvl.put.kinds[kindPUT].h.latencies()
			fmt.Fprintf(tw, "visible A->B at %d%%\tnode B\t%.0f\t%s\t%s\t%s\t%d\tPUT/s done (asked %.0f); %d probes; PUT p99 %s (open loop)\n",
				lvl.percent, done, ms(l.p50), ms(l.p99), ms(l.p999), lvl.timedOut+int(lvl.put.kinds[kindPUT].errs), lvl.rate, lvl.probes, ms(pl.p99))
		}
	}
	for i, rp := range res.replay {
		fmt.Fprintf(tw, "replay %d\tpresenced\t%.0f\tready %s\t\t\t\tmedian of %d; users/s; seeded in %.1fs\n",
			rp.users, float64(rp.users)/medianDur(rp.node).Seconds(), sec(medianDur(rp.node)), len(rp.node), rp.seedTook.Seconds())
		fmt.Fprintf(tw, "replay %d\traw\t%.0f\tdone %s\t\t\t\tscripts/baseline/barereplay; nats-server restart %s\n",
			rp.users, float64(rp.users)/medianDur(rp.raw).Seconds(), sec(medianDur(rp.raw)), sec(rp.natsRecovery))
		if len(rp.rawCallback) > 0 {
			fmt.Fprintf(tw, "replay %d\traw cb\t%.0f\tdone %s\t\t\t\tbarereplay -callback (the client's callback API, as presenced)\n",
				rp.users, float64(rp.users)/medianDur(rp.rawCallback).Seconds(), sec(medianDur(rp.rawCallback)))
		}
		note := ""
		if i > 0 {
			prev := res.replay[i-1]
			dn := float64(rp.users - prev.users)
			note = fmt.Sprintf("; growth from %d: node %.0f, nats %.0f, disk %.0f B/user", prev.users,
				float64(rp.nodeRSS-prev.nodeRSS)/dn, float64(rp.natsRSS-prev.natsRSS)/dn, float64(rp.natsDisk-prev.natsDisk)/dn)
		}
		fmt.Fprintf(tw, "memory %d\tper user\t\t\t\t\t\tnode RSS %.0f B, nats-server RSS %.0f B, disk %.0f B%s\n", rp.users,
			float64(rp.nodeRSS)/float64(rp.users), float64(rp.natsRSS)/float64(rp.users), float64(rp.natsDisk)/float64(rp.users), note)
	}
	if res.projection > 0 {
		fmt.Fprintf(tw, "projection 1000000\tGo bench\t\t\t\t\t\t%.1f B/user (heap held, 24-byte IDs)\n", res.projection)
	} else if res.projectionNote != "" {
		fmt.Fprintf(tw, "projection 1000000\tGo bench\t\t\t\t\t\t%s\n", res.projectionNote)
	}
	if res.fleet != nil {
		for _, row := range res.fleet.rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.phase, row.server, row.rate, row.p50, row.p99, row.p999, row.errors, row.note)
		}
	}
	tw.Flush()
	for _, n := range res.notes {
		fmt.Fprintf(r.out, "note: %s\n", n)
	}
	for _, p := range res.profiles {
		fmt.Fprintf(r.out, "profile: %s\n", p)
	}
	return r.targets()
}

// target is one of the goals.
type target struct {
	name     string
	measured float64
	ok       bool // measured at all
	atLeast  bool // want measured >= want (else <=)
	want     float64
	unit     string // "x" for ratios, else the unit
	info     bool   // reported, not a goal: no verdict
}

// info makes t a figure reported beside the targets, without a verdict.
func info(t target) target {
	t.info = true
	return t
}

func (r *run) targets() (failed bool) {
	res := &r.res
	ts := []target{
		ratioTarget("GET vs bare handler", res.get["presenced"], res.get["bare"], kindGET, 0.95),
		info(ratioTarget("GET vs bare handler, same bytes", res.get["presenced"], res.get["bare-same"], kindGET, 0)),
		ratioTarget("PUT vs bare handler", res.put["presenced"], res.put["bare"], kindPUT, 0.90),
	}
	rt := target{name: "replay vs raw consumer", want: 1.05, unit: "x"}
	cbt := target{name: "replay vs raw callback consumer", want: 1.05, unit: "x"}
	if len(res.replay) > 0 {
		rp := res.replay[len(res.replay)-1]
		for _, x := range res.replay {
			if x.users == 1_000_000 {
				rp = x
			}
		}
		rt.name = fmt.Sprintf("replay vs raw consumer (%d users)", rp.users)
		rt.measured, rt.ok = medianRatio(rp.node, rp.raw), true
		if len(rp.rawCallback) == len(rp.node) {
			cbt.name = fmt.Sprintf("replay vs raw callback consumer (%d users)", rp.users)
			cbt.measured, cbt.ok = medianRatio(rp.node, rp.rawCallback), true
		}
	}
	ts = append(ts, rt, cbt)
	ts = append(ts,
		target{name: "projection at 1M users", measured: res.projection, ok: res.projection > 0, want: 48, unit: " B/user"},
		ratioTarget("GET vs Dendrite", res.get["presenced"], res.get["dendrite"], kindGET, 6))
	at := target{name: "applied PUT vs Dendrite", atLeast: true, want: 20, unit: "x"}
	if a := res.dendriteApply; a != nil && len(res.put["presenced"]) > 0 {
		at.measured, at.ok = medianRate(res.put["presenced"], kindPUT)/a.rate(), true
	}
	ts = append(ts, at)
	dropped := target{name: "PUTs dropped by presenced", measured: float64(res.dropped), ok: res.checked > 0, want: 0, unit: ""}
	if n := res.put["presenced"]; len(n) > 0 {
		for i := range n {
			dropped.measured += float64(n[i].kinds[kindPUT].errs)
		}
	}
	ts = append(ts, dropped)
	if res.fleet != nil {
		ts = append(ts, res.fleet.targets()...)
	}

	fmt.Fprintln(r.out)
	tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tMEASURED\tWANT\tRESULT")
	for _, t := range ts {
		op := "<="
		if t.atLeast {
			op = ">="
		}
		want := fmt.Sprintf("%s %g%s", op, t.want, t.unit)
		if t.info {
			want = "-"
		}
		switch {
		case !t.ok:
			fmt.Fprintf(tw, "%s\t-\t%s\tSKIPPED\n", t.name, want)
			continue
		case t.info:
			fmt.Fprintf(tw, "%s\t%s%s\t%s\tINFO\n", t.name, trim(t.measured), t.unit, want)
			continue
		}
		pass := t.measured <= t.want
		if t.atLeast {
			pass = t.measured >= t.want
		}
		verdict := "PASS"
		if !pass {
			verdict, failed = "FAIL", true
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\n", t.name, trim(t.measured), t.unit, want, verdict)
	}
	tw.Flush()
	return failed
}

// ratioTarget is the median over slices of ours/ref, each slice's pair
// measured seconds apart (see sideBySide).
func ratioTarget(name string, ours, ref []loadResult, kind int, want float64) target {
	t := target{name: name, atLeast: true, want: want, unit: "x"}
	n := min(len(ours), len(ref))
	if n == 0 {
		return t
	}
	ratios := make([]float64, n)
	for i := range n {
		ratios[i] = ours[i].rate(kind) / ref[i].rate(kind)
	}
	t.measured, t.ok = median(ratios), true
	return t
}

// trim formats a measured figure: ratios near 1 with three decimals, so
// that one just under its target does not print as the target itself.
func trim(v float64) string {
	format := "%.2f"
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v < 2:
		format = "%.3f"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf(format, v), "0"), ".")
}

func medianRate(rounds []loadResult, kind int) float64 {
	v := make([]float64, len(rounds))
	for i := range rounds {
		v[i] = rounds[i].rate(kind)
	}
	return median(v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDur(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(median(f))
}

func sec(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// medianRatio is the median over rounds of a[i]/b[i].
func medianRatio(a, b []time.Duration) float64 {
	ratios := make([]float64, len(a))
	for i := range a {
		ratios[i] = a[i].Seconds() / b[i].Seconds()
	}
	return median(ratios)
}
