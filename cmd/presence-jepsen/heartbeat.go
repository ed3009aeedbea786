package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// internalSecret is the shared secret of the nodes' internal (fleet) API.
const internalSecret = "presence-jepsen-internal-secret"

// heartbeatSyncTimeout is the nodes' --sync-timeout: short, so that a
// device that stops is expected offline soon, and a flap would show.
const heartbeatSyncTimeout = 3 * time.Second

// heartbeats drives devices that sync through the fleet API all through the
// nemesis, as a homeserver's sync workers would, and samples their presence
// with consistent GETs. The promise checked: a device whose sync was
// acknowledged reads online until the sync timeout has passed since that
// sync began, on any node, whatever the faults (a flap to offline is a
// violation); and once every device has stopped, each reads offline.
type heartbeats struct {
	nodes   []*presenceNode
	h       *history
	devices int
	every   time.Duration
	api     *http.Client
	users   func(i int) int // device i's user number

	mu      sync.Mutex
	synced  map[int][]time.Time // per device: call times of acknowledged syncs
	samples []hbSample
}

type hbSample struct {
	device    int
	call, ret time.Time
	presence  string
	node      int
}

func newHeartbeats(nodes []*presenceNode, h *history, devices, firstUser int, bound time.Duration) *heartbeats {
	return &heartbeats{nodes: nodes, h: h, devices: devices, every: 300 * time.Millisecond,
		api: &http.Client{Timeout: bound}, users: func(i int) int { return firstUser + i }, synced: map[int][]time.Time{}}
}

// run heartbeats and samples until ctx ends.
func (hb *heartbeats) run(ctx context.Context, reads *apiClient) {
	var wg sync.WaitGroup
	for d := range hb.devices {
		wg.Go(func() { hb.beat(ctx, d) })
	}
	wg.Go(func() { hb.sample(ctx, reads) })
	wg.Wait()
}

// beat syncs device d every hb.every through the first node that takes it.
func (hb *heartbeats) beat(ctx context.Context, d int) {
	body, _ := json.Marshal(map[string]any{"user_id": userID(hb.users(d)), "device_id": "PHONE"})
	for k := 0; ctx.Err() == nil; k++ {
		for j := range hb.nodes {
			n := hb.nodes[(d+k+j)%len(hb.nodes)]
			call := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.internal+"/_presence/v1/sync", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+internalSecret)
			resp, err := hb.api.Do(req)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				hb.mu.Lock()
				hb.synced[d] = append(hb.synced[d], call)
				hb.mu.Unlock()
				break
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(hb.every):
		}
	}
}

// sample reads every device's presence with consistent GETs, round robin
// over the nodes.
func (hb *heartbeats) sample(ctx context.Context, reads *apiClient) {
	for k := 0; ctx.Err() == nil; k++ {
		for d := range hb.devices {
			n := (d + k) % len(hb.nodes)
			call := time.Now()
			a := reads.get(ctx, hb.nodes[n].url, hb.users(d), true)
			ret := time.Now()
			if a.err != nil || a.status != http.StatusOK {
				continue
			}
			var st struct {
				Presence string `json:"presence"`
			}
			if json.Unmarshal(a.body, &st) != nil {
				continue
			}
			hb.mu.Lock()
			hb.samples = append(hb.samples, hbSample{device: d, call: call, ret: ret, presence: st.Presence, node: n})
			hb.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// flaps are the samples that read a device offline although one of its
// syncs was acknowledged before the read began and the sync timeout since
// that sync's start had not passed when the read was answered.
func (hb *heartbeats) flaps() []string {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	var out []string
	for _, s := range hb.samples {
		if s.presence != "offline" {
			continue
		}
		syncs := hb.synced[s.device]
		readCall, readRet := s.call, s.ret
		// The latest acknowledged sync that began before the read did.
		i := sort.Search(len(syncs), func(i int) bool { return !syncs[i].Before(readCall) }) - 1
		if i < 0 {
			continue
		}
		// syncs[i] began before the read; it was acknowledged, but possibly
		// after the read began. The one before it was acknowledged before
		// syncs[i] began (a device's syncs are sequential), so before the
		// read: that is the one the read must reflect.
		if i == 0 {
			continue
		}
		// A sync that changes nothing visible is absorbed when the device's
		// stored sync is younger than the granularity (a third of the sync
		// timeout), so the stored deadline may be that much earlier.
		last := syncs[i-1]
		if readRet.Before(last.Add(heartbeatSyncTimeout - heartbeatSyncTimeout/3)) {
			out = append(out, fmt.Sprintf("device %d read offline on node %d at %v, %v after an acknowledged sync",
				s.device, s.node, s.call.Sub(hb.h.start).Round(time.Millisecond), readCall.Sub(last).Round(time.Millisecond)))
		}
	}
	return out
}

// summary counts the heartbeats and samples.
func (hb *heartbeats) summary() (syncs, samples int) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for _, s := range hb.synced {
		syncs += len(s)
	}
	return syncs, len(hb.samples)
}

// waitOffline waits until every device reads offline on every node.
func (hb *heartbeats) waitOffline(reads *apiClient, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		pending := ""
		for d := range hb.devices {
			for i, n := range hb.nodes {
				a := reads.get(context.Background(), n.url, hb.users(d), true)
				var st struct {
					Presence string `json:"presence"`
				}
				if a.err != nil || a.status != http.StatusOK || json.Unmarshal(a.body, &st) != nil || st.Presence != "offline" {
					pending = fmt.Sprintf("device %d on node %d: %d %s %v", d, i, a.status, a.body, a.err)
				}
			}
		}
		if pending == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stopped devices not all offline after %v: %s", within, pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
