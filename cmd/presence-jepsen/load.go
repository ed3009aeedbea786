package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// loadPhase is many clients, each sending a bounded number of requests to
// random nodes while the nemesis runs, on users of their own (not in the
// checked history). It checks the failure contract: no 500, no request to a
// running node that hangs past the configured timeouts, every failure a
// Matrix error with Retry-After on 503.
type loadPhase struct {
	clients          int
	requests         int
	firstUser, users int
	bound            time.Duration
	nodes            []*presenceNode
	h                *history
	faults           func() []faultEvent
}

// loadResult is what the load phase saw.
type loadResult struct {
	Requests int
	ByStatus map[string]int
	Contract *counter // broke the failure contract
	Hangs    *counter // no answer within the bound from a node that was not killed or paused
	Excused  int      // no answer from a node that was killed or paused meanwhile
	Duration time.Duration
}

func (l *loadPhase) run(ctx context.Context, seed uint64) loadResult {
	res := loadResult{ByStatus: map[string]int{}, Contract: &counter{}, Hangs: &counter{}}
	api := newAPIClient(l.bound, 4)
	var mu sync.Mutex
	type pending struct {
		node     int
		from, to int64
		what     string
	}
	var timeouts []pending
	start := time.Now()
	var wg sync.WaitGroup
	for c := range l.clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(1000+c)))
			for r := 0; r < l.requests && ctx.Err() == nil; r++ {
				node := rng.IntN(len(l.nodes))
				user := l.firstUser + rng.IntN(l.users)
				from := l.h.now()
				var a answer
				switch rng.IntN(3) {
				case 0:
					a = api.put(ctx, l.nodes[node].url, user, fmt.Sprintf("load-%d-%d", c, r))
				case 1:
					a = api.get(ctx, l.nodes[node].url, user, true)
				default:
					a = api.get(ctx, l.nodes[node].url, user, false)
				}
				to := l.h.now()
				key := fmt.Sprint(a.status)
				var ne net.Error
				timedOut := a.err != nil && errors.As(a.err, &ne) && ne.Timeout()
				switch {
				case timedOut:
					key = "timeout"
				case a.err != nil:
					key = "transport error"
				}
				mu.Lock()
				res.Requests++
				res.ByStatus[key]++
				if timedOut && ctx.Err() == nil {
					timeouts = append(timeouts, pending{node, from, to, fmt.Sprintf("node-%d after %s: %v", node, time.Duration(to-from).Round(time.Millisecond), a.err)})
				}
				mu.Unlock()
				res.Contract.note(a)
			}
		})
	}
	wg.Wait()
	res.Duration = time.Since(start)
	faults := l.faults()
	for _, t := range timeouts {
		if impaired(faults, fmt.Sprintf("node-%d", t.node), t.from, t.to) {
			res.Excused++
		} else {
			res.Hangs.add(t.what)
		}
	}
	return res
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d requests in %s %v; contract violations %s; hangs %s; excused (node killed or paused) %d",
		r.Requests, r.Duration.Round(time.Millisecond), r.ByStatus, r.Contract, r.Hangs, r.Excused)
}
