package main

import (
	"os"
	"slices"
	"testing"
	"time"
)

type seenChange struct {
	user  int
	write int64
}

func scanAll(b string) []seenChange {
	var got []seenChange
	scanChanges([]byte(b), func(u int, w int64) { got = append(got, seenChange{u, w}) })
	return got
}

func TestScanChangesPage(t *testing.T) {
	page := `{"next":"18a2b-17","changes":[` +
		`{"user_id":"@user0000003:example.org","presence":"online","last_active_ago":4,"status_msg":"w12-t1700000000000","currently_active":true},` +
		`{"user_id":"@user0000007:example.org","presence":"offline","last_active_ago":90000},` +
		`{"user_id":"@bob:other.org","presence":"online","status_msg":"w99-t1"},` +
		`{"user_id":"@user0000001:example.org","presence":"online","status_msg":"w13-t1700000000001"}]}`
	want := []seenChange{{3, 12}, {1, 13}}
	if got := scanAll(page); !slices.Equal(got, want) {
		t.Fatalf("scanChanges = %v, want %v (a change without a write of the phase, or of another user, is skipped)", got, want)
	}
	if next, reset := pageNext([]byte(page)); next != "18a2b-17" || reset {
		t.Fatalf("pageNext = %q, %v", next, reset)
	}
	if next, reset := pageNext([]byte(`{"reset":true,"next":"18a2c-0"}`)); next != "18a2c-0" || !reset {
		t.Fatalf("pageNext of a reset = %q, %v", next, reset)
	}
}

func TestScanChangesEvent(t *testing.T) {
	got := scanAll(`data: {"user_id":"@user0000042:example.org","presence":"online","status_msg":"w0-t5"}`)
	if want := []seenChange{{42, 0}}; !slices.Equal(got, want) {
		t.Fatalf("scanChanges = %v, want %v", got, want)
	}
}

func TestFeedReaderUpToDate(t *testing.T) {
	fr := newFeedReader(modeLongPoll, "127.0.0.1:1", "s", 3, time.Now())
	fr.saw([]byte(`{"user_id":"@user0000000:example.org","status_msg":"w4-t1"},{"user_id":"@user0000002:example.org","status_msg":"w5-t1"}`), time.Millisecond)
	if !fr.upToDate([]int64{4, -1, 5}) {
		t.Fatal("a reader with every expected write is not up to date")
	}
	if fr.upToDate([]int64{4, 6, 5}) {
		t.Fatal("a reader that never saw user 1's write is up to date")
	}
	fr.saw([]byte(`{"user_id":"@user0000000:example.org","status_msg":"w7-t1"}`), 2*time.Millisecond)
	if fr.upToDate([]int64{4, -1, 5}) {
		t.Fatal("a reader whose last change of user 0 is a later write is up to date with an earlier one")
	}
}

func TestFeedTally(t *testing.T) {
	writes := []feedWrite{{user: 0, sent: 8 * time.Millisecond, ack: 10 * time.Millisecond},
		{user: 1, sent: 17 * time.Millisecond, ack: 20 * time.Millisecond}, {user: 0, sent: 21 * time.Millisecond, ack: -1}}
	a := &feedReader{receipts: []receipt{{0, 15 * time.Millisecond}, {1, 18 * time.Millisecond}, {2, 30 * time.Millisecond}}}
	b := &feedReader{receipts: []receipt{{0, 12 * time.Millisecond}, {0, 13 * time.Millisecond}}}
	res := &feedResult{delay: newHist(), fromSend: newHist()}
	res.tally([]*feedReader{a, b}, writes)
	if res.minSeen != 1 || res.maxSeen != 3 || res.twice != 1 || res.early != 1 {
		t.Fatalf("tally: min %d max %d twice %d early %d, want 1 3 1 1", res.minSeen, res.maxSeen, res.twice, res.early)
	}
	// Delays: 5 ms, 0 (seen before the 200), 2 ms; the failed write has none.
	if res.delay.n != 3 || res.delay.max != uint64(5*time.Millisecond) {
		t.Fatalf("delays: %d values, max %v", res.delay.n, time.Duration(res.delay.max))
	}
	// From the send: 7 ms, 1 ms, 4 ms.
	if res.fromSend.n != 3 || res.fromSend.max != uint64(7*time.Millisecond) {
		t.Fatalf("delays from the send: %d values, max %v", res.fromSend.n, time.Duration(res.fromSend.max))
	}
}

func TestLabelledMetric(t *testing.T) {
	exp := []byte(`# HELP presenced_fleet_commands_total x
presenced_fleet_commands_total{command="active",result="absorbed"} 3
presenced_fleet_commands_total{command="sync",result="absorbed"} 1.234e+06
presenced_fleet_commands_total{command="sync",result="stored"} 10
presenced_fleet_commands_total_other{command="sync",result="stored"} 99
presenced_up 1
`)
	if v := labelledMetric(exp, "presenced_fleet_commands_total", `command="sync"`, `result="absorbed"`); v != 1.234e6 {
		t.Fatalf("absorbed = %v", v)
	}
	if v := labelledMetric(exp, "presenced_fleet_commands_total", `result="stored"`, `command="sync"`); v != 10 {
		t.Fatalf("stored = %v", v)
	}
	if v := labelledMetric(exp, "presenced_fleet_commands_total", `command="sync"`, `result="busy"`); v != 0 {
		t.Fatalf("busy = %v, want 0 (not exposed)", v)
	}
	if v := labelledMetric(exp, "presenced_up"); v != 1 {
		t.Fatalf("presenced_up = %v", v)
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	d0, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has charged a tick more, or give up.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		d1, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if d1 > d0 {
			return
		}
	}
	t.Fatalf("CPU time stayed at %v over 10 s of spinning", d0)
}
