package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"syscall"
	"time"
)

// workload is the checked clients: each is bound to one node and loops over
// random users, PUTting a unique status_msg or reading with a consistent GET,
// and now and then reading its own write back with a plain GET on the same
// node. Every operation goes into the history.
type workload struct {
	h     *history
	api   *apiClient
	nodes []*presenceNode
	users int
	// contract collects answers that break the failure contract (a 500, an
	// error that is not a Matrix error, a 503 without Retry-After).
	contract *counter
}

// runClient is client id's loop until ctx ends.
func (w *workload) runClient(ctx context.Context, id int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(id)))
	node := id % len(w.nodes)
	base := w.nodes[node].url
	for n := 0; ctx.Err() == nil; n++ {
		user := rng.IntN(w.users)
		if rng.IntN(2) == 0 {
			value := fmt.Sprintf("c%d-%d", id, n)
			putID, ok := w.put(ctx, id, node, base, user, value)
			if ok && rng.IntN(3) == 0 {
				w.read(ctx, id, node, base, user, opRYW, false, putID)
			}
		} else {
			w.read(ctx, id, node, base, user, opGet, true, 0)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(2+rng.IntN(8)) * time.Millisecond):
		}
	}
}

// put records one PUT and reports whether it was acknowledged.
func (w *workload) put(ctx context.Context, client, node int, base string, user int, value string) (int, bool) {
	o := op{Client: client, Node: node, User: userID(user), Kind: opPut, Value: value, Call: w.h.now()}
	a := w.api.put(ctx, base, user, value)
	o.Return, o.HTTP = w.h.now(), a.status
	w.contract.note(a)
	switch {
	case a.err != nil && errors.Is(a.err, syscall.ECONNREFUSED):
		o.Status, o.Err = statusFail, a.err.Error() // never reached the node
	case a.err != nil:
		o.Status, o.Err = statusUnknown, a.err.Error()
	case a.status == http.StatusOK:
		o.Status = statusOK
	case a.status >= 500:
		// 503: not stored within the timeout, or stored but not yet applied.
		o.Status, o.Err = statusUnknown, string(a.body)
	default:
		o.Status, o.Err = statusFail, string(a.body)
	}
	return w.h.add(o), o.Status == statusOK
}

// read records one GET of the given kind.
func (w *workload) read(ctx context.Context, client, node int, base string, user int, kind string, consistent bool, after int) op {
	o := op{Client: client, Node: node, User: userID(user), Kind: kind, Call: w.h.now(), After: after}
	a := w.api.get(ctx, base, user, consistent)
	o.Return, o.HTTP = w.h.now(), a.status
	w.contract.note(a)
	if v, ok := a.readValue(); ok && a.err == nil {
		o.Status, o.Value = statusOK, v
	} else {
		o.Status = statusFail
		if a.err != nil {
			o.Err = a.err.Error()
		} else {
			o.Err = string(a.body)
		}
	}
	w.h.add(o)
	return o
}

// finalReads reads every user on every node with a consistent GET, retrying
// each until it succeeds or within ends. They are recorded as clients
// firstClient, firstClient+1, ... (one per node).
func (w *workload) finalReads(firstClient int, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for user := range w.users {
		for node, pn := range w.nodes {
			for {
				o := w.read(ctx, firstClient+node, node, pn.url, user, opFinal, true, 0)
				if o.Status == statusOK {
					break
				}
				if ctx.Err() != nil {
					return fmt.Errorf("final read of %s on node %d: %s", userID(user), node, o.Err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	return nil
}
