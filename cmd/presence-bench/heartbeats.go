package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// benchDevice is the one device each user of the fleet phases syncs from.
const benchDevice = "BENCHDEV"

// heartbeatResult is the sync heartbeat phase: N devices that have synced
// once heartbeat as fast as the load tool can, and nothing should be
// stored.
type heartbeatResult struct {
	users     int
	primeTook time.Duration
	load      loadResult
	elapsed   time.Duration // wall time of the measured load
	nodeCPU   time.Duration // presenced's user+system CPU during the load
	natsCPU   time.Duration // the nats-server's
	// Sync commands counted by the node during the load, by result
	// (presenced_fleet_commands_total{command="sync"}).
	absorbed, stored, busy, failed float64
	seqBefore, seqAfter            uint64 // the stream's last sequence
}

// perCPUSecond is heartbeats answered per CPU-second of the node: per core.
func (h *heartbeatResult) perCPUSecond() float64 {
	if h.nodeCPU <= 0 {
		return 0
	}
	return float64(h.load.kinds[kindPOST].n) / h.nodeCPU.Seconds()
}

func syncBody(user int) []byte {
	return []byte(`{"user_id":"` + userID(user) + `","device_id":"` + benchDevice + `","set_presence":"online"}`)
}

// heartbeats starts a node with a 10-minute sync timeout, has every one of
// the -users users sync once (each is stored: the device is new), then runs
// a closed-loop load of the same syncs over -conns connections. Every such
// heartbeat changes nothing a reader sees and comes well within the
// granularity, so the node must absorb all of them: the phase reports the
// node's sync counters and the stream's last sequence before and after.
func (r *run) heartbeats(ctx context.Context) (*heartbeatResult, error) {
	defer r.procs.stopAll()
	c := r.cfg
	f, err := r.startFleetNode(ctx, "fleet-hb", 1)
	if err != nil {
		return nil, err
	}
	defer f.close()
	res := &heartbeatResult{users: c.users}
	t0 := time.Now()
	if err := forEachUser(ctx, f.internal, c.conns, c.users, func(hc *httpConn, i int) error {
		status, body, err := hc.post(routeFleetSync, f.secret, syncBody(i))
		if err := statusErr(status, err); err != nil {
			return fmt.Errorf("first sync of %s: %w (%s)", userID(i), err, body)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	res.primeTook = time.Since(t0)
	r.logf("fleet heartbeats: %d devices synced once in %.1fs", c.users, res.primeTook.Seconds())

	hb := func(w *worker) (int, error) {
		share := (c.users - w.id + c.conns - 1) / c.conns
		i := w.id + c.conns*w.rnd.IntN(share)
		status, _, err := w.conn.post(routeFleetSync, f.secret, syncBody(i))
		return kindPOST, statusErr(status, err)
	}
	runClosed(ctx, f.internal, c.conns, 0, c.warmup, hb) // warm-up, not counted

	before, err := f.metrics(ctx)
	if err != nil {
		return nil, err
	}
	if res.seqBefore, err = f.lastSeq(ctx); err != nil {
		return nil, err
	}
	nodeCPU0, err1 := f.proc.cpu()
	natsCPU0, err2 := f.nats.proc.cpu()
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("CPU time: %v %v", err1, err2)
	}
	t1 := time.Now()
	res.load = runClosed(ctx, f.internal, c.conns, 0, c.duration, hb)
	res.elapsed = time.Since(t1)
	nodeCPU1, err1 := f.proc.cpu()
	natsCPU1, err2 := f.nats.proc.cpu()
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("CPU time: %v %v", err1, err2)
	}
	res.nodeCPU, res.natsCPU = nodeCPU1-nodeCPU0, natsCPU1-natsCPU0
	after, err := f.metrics(ctx)
	if err != nil {
		return nil, err
	}
	if res.seqAfter, err = f.lastSeq(ctx); err != nil {
		return nil, err
	}
	delta := func(result string) float64 {
		l := []string{`command="sync"`, `result="` + result + `"`}
		return labelledMetric(after, fleetCommandsMetric, l...) - labelledMetric(before, fleetCommandsMetric, l...)
	}
	res.absorbed, res.stored, res.busy, res.failed = delta("absorbed"), delta("stored"), delta("busy"), delta("error")
	r.logLoad("fleet heartbeats", &res.load)
	r.logf("fleet heartbeats: node CPU %.2fs, nats-server CPU %.2fs over %.2fs; syncs absorbed %.0f, stored %.0f; stream last sequence %d -> %d",
		res.nodeCPU.Seconds(), res.natsCPU.Seconds(), res.elapsed.Seconds(), res.absorbed, res.stored, res.seqBefore, res.seqAfter)
	return res, ctx.Err()
}

// The fleet API paths and the metric the harness reads.
const (
	routeFleetSync      = "/_presence/v1/sync"
	routeFleetChanges   = "/_presence/v1/changes"
	fleetCommandsMetric = "presenced_fleet_commands_total"
)

// forEachUser calls fn once for each of users [0, n) over conns
// connections to addr (user i on connection i mod conns, in order), and
// returns the first error.
func forEachUser(ctx context.Context, addr string, conns, n int, fn func(hc *httpConn, i int) error) error {
	conns = max(1, min(conns, n))
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for k := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := newHTTPConn(addr)
			defer hc.close()
			for i := k; i < n && ctx.Err() == nil && firstErr.Load() == nil; i += conns {
				if err := fn(hc, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return ctx.Err()
}

// heartbeatRow is the table's line of the phase.
func heartbeatRow(h *heartbeatResult) tableRow {
	l := h.load.kinds[kindPOST].h.latencies()
	published := int64(h.seqAfter) - int64(h.seqBefore)
	return tableRow{
		phase: "fleet heartbeats", server: "presenced",
		rate: strconv.FormatFloat(h.load.rate(kindPOST), 'f', 0, 64),
		p50:  ms(l.p50), p99: ms(l.p99), p999: ms(l.p999),
		errors: strconv.FormatUint(h.load.kinds[kindPOST].errs, 10),
		note: fmt.Sprintf("%d devices, sync-timeout %s: %.0f heartbeats per node CPU-second (node %.2f, nats-server %.2f CPU-s in %.1fs); "+
			"absorbed %.0f, stored %.0f; stream last seq %d -> %d (%d published)",
			h.users, fleetSyncTimeout, h.perCPUSecond(), h.nodeCPU.Seconds(), h.natsCPU.Seconds(), h.elapsed.Seconds(),
			h.absorbed, h.stored, h.seqBefore, h.seqAfter, published),
	}
}
