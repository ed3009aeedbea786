package main

import (
	"context"
	"sync"
	"time"
)

// awaitVisible waits until every user that has a last message in s shows
// it, or deadline passes. It returns how many never showed it and when the
// last update was seen.
//
// It first reads only the user whose PUT was answered last, every 20 ms:
// a server that applies updates in order (as both presenced and Dendrite
// do) shows everything once it shows that one, and one connection reading
// one user disturbs the server's apply work least. Then it reads every
// user, again and again, until all show their last value.
func awaitVisible(ctx context.Context, s *service, conns int, deadline time.Time) (missing int, last time.Time) {
	var pending []int
	newest := -1
	for i, m := range s.lastMsg {
		if m != "" {
			pending = append(pending, i)
			if newest < 0 || s.lastAt[i].After(s.lastAt[newest]) {
				newest = i
			}
		}
	}
	last = time.Now()
	if newest < 0 {
		return 0, last
	}
	hc := newHTTPConn(s.addr)
	for ctx.Err() == nil {
		status, body, err := hc.get(s.paths[newest], s.getToken)
		if err == nil && status == 200 && shows(body, s.lastMsg[newest]) {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	hc.close()
	last = time.Now()
	for first := true; len(pending) > 0 && ctx.Err() == nil; first = false {
		still := sweep(s, pending, conns)
		if !first && len(still) < len(pending) {
			last = time.Now() // the sweep that found these took this long
		}
		if len(still) == len(pending) && time.Now().After(deadline) {
			break
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return len(pending), last
}

// sweep reads the users of pending over conns connections and returns
// those that do not show their last message yet.
func sweep(s *service, pending []int, conns int) []int {
	var mu sync.Mutex
	var still []int
	var wg sync.WaitGroup
	conns = min(conns, len(pending))
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := newHTTPConn(s.addr)
			defer hc.close()
			var mine []int
			for k := c; k < len(pending); k += conns {
				i := pending[k]
				status, body, err := hc.get(s.paths[i], s.getToken)
				if err != nil || status != 200 || !shows(body, s.lastMsg[i]) {
					mine = append(mine, i)
				}
			}
			mu.Lock()
			still = append(still, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return still
}

// clearLast forgets the last messages of s.
func (s *service) clearLast() {
	for i := range s.lastMsg {
		s.lastMsg[i], s.lastAt[i] = "", time.Time{}
	}
}
