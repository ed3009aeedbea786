package main

import (
	"testing"
	"time"
)

// TestHeartbeatFlaps: an offline read counts as a flap only when a sync
// acknowledged before the read began should still have kept the device
// online when the read was answered.
func TestHeartbeatFlaps(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	hb := &heartbeats{h: newHistory(start), synced: map[int][]time.Time{
		0: {at(0), at(300), at(600)},
	}}
	hb.samples = []hbSample{
		{device: 0, call: at(700), ret: at(720), presence: "offline"},   // flap: the sync of 300 ms keeps it online
		{device: 0, call: at(700), ret: at(720), presence: "online"},    // fine
		{device: 0, call: at(100), ret: at(120), presence: "offline"},   // only the first sync may be unacknowledged: no verdict
		{device: 0, call: at(5000), ret: at(5020), presence: "offline"}, // long after the last sync: expected
	}
	flaps := hb.flaps()
	if len(flaps) != 1 {
		t.Fatalf("flaps %v, want exactly the read at 700 ms", flaps)
	}
}
