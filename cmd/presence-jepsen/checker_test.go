package main

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// issue11Fixture is a history recorded by `presence-jepsen run -seed 1
// -duration 20s -load-clients 0` before the consistent read learned the
// stream's end from a quorum-acknowledged barrier: user @u8's operations.
// Node 0 was blackholed from NATS while the stream leader (nats-0) got
// SIGTERM; nats-0 came back 7 s later with its old store. A consistent GET on
// node 1, invoked at 10.503 s, answered at 14.837 s with "c2-296", written at
// 3.37 s, although "c2-818", "c3-956" and "c8-827" were acknowledged before
// it began.
const issue11Fixture = "testdata/issue11-stale-consistent-read.json"

func TestIssue11HistoryIsNotLinearizable(t *testing.T) {
	hf, err := readHistoryFile(issue11Fixture)
	if err != nil {
		t.Fatal(err)
	}
	v := check(hf.Ops, time.Minute)
	if v.Linearizable != porcupine.Illegal || len(v.BadUsers) != 1 || v.BadUsers[0] != "@u8:jepsen.test" {
		t.Fatalf("want @u8's history illegal, got %s %v", v.Linearizable, v.BadUsers)
	}
	if v.AckedLost != 0 {
		t.Errorf("acked-lost %d, want 0: the writes were not lost, the read was stale", v.AckedLost)
	}

	// Without the stale read the rest of the history is linearizable: the
	// checker blames exactly that read.
	var rest []op
	stale := 0
	for _, o := range hf.Ops {
		if o.Kind == opGet && o.Node == 1 && o.Value == "c2-296" && o.Call > int64(10*time.Second) {
			stale++
			continue
		}
		rest = append(rest, o)
	}
	if stale != 1 {
		t.Fatalf("found %d stale reads in the fixture, want 1", stale)
	}
	if v := check(rest, time.Minute); v.Linearizable != porcupine.Ok {
		t.Fatalf("history without the stale read: %s %v", v.Linearizable, v.Details)
	}
}

// ms is a time in the history, in milliseconds.
func ms(n int64) int64 { return n * int64(time.Millisecond) }

// leaderFixture is a history recorded with the consistent read patched to
// use a quorum-acknowledged barrier (`-seed 1 -duration 45s -faults
// leader-stop-node-stalled,kill-nats`): user @u28's operations. nats-1 was
// restarted at 31.98 s with a store 7 s old; at 35.1 s, when the leader
// nats-2 got SIGTERM, leadership moved to nats-1 before its stream catch-up
// had finished. Node 0, paused until then, answered a consistent GET
// (35.33 s to 39.42 s) with "c1-1451", written at 23.09 s, although
// "c1-2378", "c7-2368" and "c2-2505" were acknowledged before it began.
const leaderFixture = "testdata/leader-with-unfinished-catchup.json"

func TestLeaderWithUnfinishedCatchupHistoryIsNotLinearizable(t *testing.T) {
	hf, err := readHistoryFile(leaderFixture)
	if err != nil {
		t.Fatal(err)
	}
	v := check(hf.Ops, time.Minute)
	if v.Linearizable != porcupine.Illegal || len(v.BadUsers) != 1 || v.BadUsers[0] != "@u28:jepsen.test" {
		t.Fatalf("want @u28's history illegal, got %s %v", v.Linearizable, v.BadUsers)
	}
}

func TestUnknownPutMayTakeEffectLateOrNever(t *testing.T) {
	base := []op{
		{ID: 1, Client: 0, User: "u", Kind: opPut, Value: "a", Call: ms(0), Return: ms(10), Status: statusOK},
		{ID: 2, Client: 1, User: "u", Kind: opPut, Value: "b", Call: ms(20), Return: ms(5000), Status: statusUnknown},
	}
	for _, tc := range []struct {
		name  string
		reads []string
		want  porcupine.CheckResult
	}{
		{"never happened", []string{"a", "a"}, porcupine.Ok},
		{"happened late", []string{"a", "b"}, porcupine.Ok},
		{"went back", []string{"b", "a"}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := append([]op(nil), base...)
			for i, val := range tc.reads {
				ops = append(ops, op{ID: 10 + i, Client: 2, User: "u", Kind: opGet, Value: val,
					Call: ms(int64(100 * (i + 1))), Return: ms(int64(100*(i+1) + 10)), Status: statusOK})
			}
			if got := check(ops, time.Minute).Linearizable; got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAckedLostAndReadYourWrites(t *testing.T) {
	ops := []op{
		{ID: 1, User: "u", Kind: opPut, Value: "a", Call: ms(0), Return: ms(10), Status: statusOK},
		{ID: 2, User: "u", Kind: opPut, Value: "b", Call: ms(20), Return: ms(30), Status: statusOK},
		{ID: 3, User: "u", Kind: opRYW, Node: 0, Value: "a", Call: ms(40), Return: ms(50), Status: statusOK, After: 2},
		{ID: 4, Client: 1, User: "u", Kind: opFinal, Node: 0, Value: "b", Call: ms(100), Return: ms(110), Status: statusOK},
		{ID: 5, Client: 2, User: "u", Kind: opFinal, Node: 1, Value: "a", Call: ms(100), Return: ms(110), Status: statusOK},
	}
	v := check(ops, time.Minute)
	if v.AckedLost != 1 || v.Diverged != 1 || v.RYWViolations != 1 || v.ok() {
		t.Fatalf("want 1 acked-lost (b on node 1), 1 diverged, 1 read-your-writes violation; got %+v", v.Details)
	}
	ops[2].Value, ops[4].Value = "b", "b"
	if v := check(ops, time.Minute); !v.ok() {
		t.Fatalf("want all checks to pass, got %s %v", v.Linearizable, v.Details)
	}
}
