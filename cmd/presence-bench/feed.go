package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// feedWriterConns is how many connections the fan-out phase's writer
// spreads its open-loop PUTs over.
const feedWriterConns = 4

// feedResult is the change feed fanned out to many readers in one mode.
type feedResult struct {
	mode    string
	readers int
	users   int
	rate    float64    // PUTs per second asked for
	put     loadResult // the writer's PUTs
	writes  int        // PUTs answered 200
	// delay is, over every change every reader saw, the time from the
	// write's 200 to the reader having it; early counts changes a reader
	// had before the writer had its 200 (recorded as 0). fromSend is the
	// time from the PUT being sent instead, which is never negative.
	delay, fromSend *hist
	early           int
	// minSeen and maxSeen are the fewest and most of the writes a reader
	// saw; twice counts a write a reader saw more than once.
	minSeen, maxSeen, twice int
	// current counts readers whose last change of every user was the
	// user's last write; caughtUp is how long after the writer stopped
	// the last of them was.
	current    int
	caughtUp   time.Duration
	readerErrs int
	firstErr   string
	// elapsed is how long the writer took (longer than its window when the
	// node could not keep up); nodeCPU the node's CPU time meanwhile.
	elapsed, nodeCPU time.Duration
}

// doneRate is the PUTs answered 200 per second the writer achieved.
func (res *feedResult) doneRate() float64 { return float64(res.writes) / res.elapsed.Seconds() }

// feedWrite is one PUT of the writer: its user, when it was sent and when
// its 200 arrived (from the phase's base time; ack is -1 if it failed).
type feedWrite struct {
	user      int
	sent, ack time.Duration
}

// feedFanout starts a node with the fleet API and, for each mode asked,
// has -feed-readers readers follow its change feed from the current
// position while a writer PUTs -feed-rate status messages per second over
// -feed-users users (round robin, so a user is rewritten only every
// users/rate seconds), each message naming its write. Every reader must
// end with every user's last write.
func (r *run) feedFanout(ctx context.Context) ([]*feedResult, error) {
	defer r.procs.stopAll()
	c := r.cfg
	f, err := r.startFleetNode(ctx, "fleet-feed", c.feedUsers)
	if err != nil {
		return nil, err
	}
	defer f.close()
	var out []*feedResult
	for _, mode := range c.feedModes {
		res, err := r.feedMode(ctx, f, mode)
		if err != nil {
			return out, fmt.Errorf("%s: %w", mode, err)
		}
		out = append(out, res)
		l := res.delay.latencies()
		r.logLoad("fleet feed "+mode+" writer", &res.put)
		r.logf("fleet feed %s: %d readers, %d writes; delivery delay p50 %s p99 %s p99.9 %s; each reader saw %d-%d writes; %d/%d readers current after %.2fs; %d reader errors",
			mode, res.readers, res.writes, ms(l.p50), ms(l.p99), ms(l.p999), res.minSeen, res.maxSeen, res.current, res.readers,
			res.caughtUp.Seconds(), res.readerErrs)
	}
	return out, ctx.Err()
}

func (r *run) feedMode(ctx context.Context, f *fleetNode, mode string) (*feedResult, error) {
	c := r.cfg
	hc := newHTTPConn(f.internal)
	status, body, err := hc.get(routeFleetChanges, f.secret)
	hc.close()
	if err := statusErr(status, err); err != nil {
		return nil, fmt.Errorf("current position: %w", err)
	}
	since, _ := pageNext(body)
	if since == "" {
		return nil, fmt.Errorf("current position: %.200s", body)
	}

	base := time.Now()
	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	readers := make([]*feedReader, c.feedReaders)
	var wg sync.WaitGroup
	for i := range readers {
		fr := newFeedReader(mode, f.internal, f.secret, c.feedUsers, base)
		readers[i] = fr
		wg.Add(1)
		go func() {
			defer wg.Done()
			fr.run(rctx, since)
		}()
	}
	stopAll := func() {
		stopReaders()
		for _, fr := range readers {
			fr.stop()
		}
		wg.Wait()
	}
	defer stopAll()
	connected := time.After(time.Minute)
	for _, fr := range readers {
		select {
		case <-fr.ready:
		case <-connected:
			return nil, fmt.Errorf("not every reader connected within a minute")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r.logf("fleet feed %s: %d readers connected in %.2fs", mode, len(readers), time.Since(base).Seconds())
	time.Sleep(c.warmup) // let the last ones' requests reach the node

	// The writer: open loop at -feed-rate; user u belongs to connection
	// u mod feedWriterConns, which writes its users in turn.
	wconns := min(feedWriterConns, c.feedUsers)
	writes := make([]feedWrite, int(c.feedRate*c.duration.Seconds())+wconns+16)
	var nextWrite atomic.Int64
	pub := newService("fleet-feed", f.addr, c.feedUsers, f.tokens, "")
	put := func(w *worker) (int, error) {
		share := (c.feedUsers - w.id + wconns - 1) / wconns
		user := w.id + wconns*int(w.seq%uint64(share))
		w.seq++
		idx := nextWrite.Add(1) - 1
		if idx >= int64(len(writes)) {
			return kindPUT, fmt.Errorf("more writes than scheduled")
		}
		msg := "w" + strconv.FormatInt(idx, 10) + "-t" + strconv.FormatInt(time.Now().UnixMilli(), 10)
		sent := time.Since(base)
		status, _, err := w.conn.put(pub.paths[user], pub.token(user), putBody(msg))
		writes[idx] = feedWrite{user: user, sent: sent, ack: -1}
		if err = statusErr(status, err); err == nil {
			writes[idx].ack = time.Since(base)
		}
		return kindPUT, err
	}
	res := &feedResult{mode: mode, readers: len(readers), users: c.feedUsers, rate: c.feedRate, delay: newHist(), fromSend: newHist()}
	cpu0, err := f.proc.cpu()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	res.put = runOpen(ctx, f.addr, wconns, c.feedRate, 0, c.duration, put)
	res.elapsed = time.Since(t0)
	cpu1, err := f.proc.cpu()
	if err != nil {
		return nil, err
	}
	res.nodeCPU = cpu1 - cpu0
	stoppedAt := time.Since(base)
	writes = writes[:min(int(nextWrite.Load()), len(writes))]

	// Each user's last write; a user whose last PUT failed may show it or
	// the one before, so it is not checked.
	expected := make([]int64, c.feedUsers)
	for i := range expected {
		expected[i] = -1
	}
	for i, w := range writes {
		if w.ack >= 0 {
			res.writes++
			expected[w.user] = int64(i)
		} else {
			expected[w.user] = -2
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	pending := slices.Clone(readers)
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		pending = slices.DeleteFunc(pending, func(fr *feedReader) bool { return fr.upToDate(expected) })
		if len(pending) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	res.caughtUp = max(0, time.Since(base)-stoppedAt)
	stopAll()
	res.current = len(readers) - len(pending)
	res.tally(readers, writes)
	return res, ctx.Err()
}

// tally fills in the delays and counts from what the readers saw.
func (res *feedResult) tally(readers []*feedReader, writes []feedWrite) {
	seen := make([]bool, len(writes))
	res.minSeen = len(writes)
	for _, fr := range readers {
		clear(seen)
		distinct := 0
		for _, rc := range fr.receipts {
			if rc.write < 0 || rc.write >= int64(len(writes)) {
				continue
			}
			if seen[rc.write] {
				res.twice++
				continue
			}
			seen[rc.write] = true
			distinct++
			w := writes[rc.write]
			if w.ack < 0 {
				continue
			}
			res.fromSend.record(rc.at - w.sent)
			d := rc.at - w.ack
			if d < 0 {
				res.early++
				d = 0
			}
			res.delay.record(d)
		}
		res.minSeen = min(res.minSeen, distinct)
		res.maxSeen = max(res.maxSeen, distinct)
		res.readerErrs += fr.errs
		if res.firstErr == "" {
			res.firstErr = fr.firstErr
		}
	}
}

// feedRow is the table's line of one mode.
func feedRow(res *feedResult) tableRow {
	l, sl := res.delay.latencies(), res.fromSend.latencies()
	pl := res.put.kinds[kindPUT].h.latencies()
	errs := res.readerErrs + int(res.put.kinds[kindPUT].errs) + (res.readers - res.current)
	name := map[string]string{modeLongPoll: "long-poll", modeSSE: "SSE"}[res.mode]
	note := fmt.Sprintf("changes delivered/s; delay from the PUT's 200 (%.0f%% seen before it, as 0); from the PUT sent p50 %s p99 %s p99.9 %s; "+
		"%d PUTs over %d users, asked %.0f/s, done %.0f/s (PUT p99 %s, open loop); node CPU %.2fs, %.0f deliveries per CPU-second; "+
		"each reader saw %d-%d of the PUTs, %d twice; %d/%d readers ended with every user's last value (%.2fs after the last PUT)",
		100*float64(res.early)/float64(max(1, res.delay.n)), ms(sl.p50), ms(sl.p99), ms(sl.p999),
		res.writes, res.users, res.rate, res.doneRate(), ms(pl.p99), res.nodeCPU.Seconds(), float64(res.delay.n)/res.nodeCPU.Seconds(),
		res.minSeen, res.maxSeen, res.twice, res.current, res.readers, res.caughtUp.Seconds())
	if res.firstErr != "" {
		note += "; first reader error: " + res.firstErr
	}
	return tableRow{
		phase:  fmt.Sprintf("fleet feed %s x%d", name, res.readers),
		server: "presenced",
		rate:   strconv.FormatFloat(float64(res.delay.n)/res.elapsed.Seconds(), 'f', 0, 64),
		p50:    ms(l.p50), p99: ms(l.p99), p999: ms(l.p999),
		errors: strconv.Itoa(errs),
		note:   note,
	}
}
