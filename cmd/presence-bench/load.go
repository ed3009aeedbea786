package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Request kinds a load worker records separately.
const (
	kindGET = iota
	kindPUT
	kindPOST // a fleet API call
	numKinds
)

var kindNames = [numKinds]string{"GET", "PUT", "POST"}

// kindResult is what one kind of request did during a measured window.
type kindResult struct {
	n, errs  uint64
	h        *hist
	firstErr string
}

// loadResult is a load phase's outcome: per kind, the requests that started
// inside the measured window.
type loadResult struct {
	kinds  [numKinds]kindResult
	window time.Duration
	// cpu is the CPU each serving process and the load tool used per
	// request, when measured.
	cpu cpuUse
}

func (r *loadResult) rate(kind int) float64 { return float64(r.kinds[kind].n) / r.window.Seconds() }
func (r *loadResult) total() float64        { return r.rate(kindGET) + r.rate(kindPUT) }

// worker is one client connection of a load phase and what it has seen.
type worker struct {
	id   int
	conn *httpConn
	rnd  *rand.Rand
	seq  uint64
	res  [numKinds]kindResult
}

// op sends one request and says what kind it was and whether it succeeded
// (err describes a failure).
type op func(w *worker) (kind int, err error)

func newWorkers(addr string, conns int) []*worker {
	ws := make([]*worker, conns)
	for i := range ws {
		ws[i] = &worker{id: i, conn: newHTTPConn(addr), rnd: rand.New(rand.NewPCG(uint64(i)+1, uint64(time.Now().UnixNano())))}
		for k := range ws[i].res {
			ws[i].res[k].h = newHist()
		}
	}
	return ws
}

func (w *worker) record(kind int, lat time.Duration, err error) {
	r := &w.res[kind]
	if err != nil {
		r.errs++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
		return
	}
	r.n++
	r.h.record(lat)
}

func collect(ws []*worker, window time.Duration) loadResult {
	res := loadResult{window: window}
	for k := range res.kinds {
		res.kinds[k].h = newHist()
	}
	for _, w := range ws {
		w.conn.close()
		for k := range w.res {
			res.kinds[k].n += w.res[k].n
			res.kinds[k].errs += w.res[k].errs
			res.kinds[k].h.merge(w.res[k].h)
			if res.kinds[k].firstErr == "" {
				res.kinds[k].firstErr = w.res[k].firstErr
			}
		}
	}
	return res
}

// runClosed is a closed-loop load: each of conns connections sends its next
// request as soon as the previous one is answered, for warmup and then for
// dur. Requests that start within dur are recorded; latency is from send to
// answer, so it is the service time at saturation.
func runClosed(ctx context.Context, addr string, conns int, warmup, dur time.Duration, o op) loadResult {
	ws := newWorkers(addr, conns)
	start := time.Now().Add(warmup)
	end := start.Add(dur)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				kind, err := o(w)
				if !t0.Before(start) {
					w.record(kind, time.Since(t0), err)
				}
			}
		}()
	}
	wg.Wait()
	return collect(ws, dur)
}

// runOpen is an open-loop load at rate requests per second over conns
// connections: connection i sends at its own fixed schedule, and latency is
// measured from the time a request was due, not from when it could be sent,
// so a stalled server is charged for the requests it held up (no
// coordinated omission).
func runOpen(ctx context.Context, addr string, conns int, rate float64, warmup, dur time.Duration, o op) loadResult {
	ws := newWorkers(addr, conns)
	t0 := time.Now()
	start := t0.Add(warmup)
	end := start.Add(dur)
	interval := time.Duration(float64(conns) / rate * float64(time.Second))
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			due := t0.Add(time.Duration(float64(w.id) / rate * float64(time.Second)))
			for ; due.Before(end) && ctx.Err() == nil; due = due.Add(interval) {
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				kind, err := o(w)
				if !due.Before(start) {
					w.record(kind, time.Since(due), err)
				}
			}
		}()
	}
	wg.Wait()
	return collect(ws, dur)
}
