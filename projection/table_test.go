package projection

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
)

// TestTableMatchesMap drives the projection's hand-made table through index
// growth, arena chunk boundaries and status message changes, and checks every
// user against a plain map of what was applied.
func TestTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := New(0)
	want := map[string]Record{}
	base := time.UnixMilli(1_700_000_000_000)
	states := []events.Presence{events.Online, events.Unavailable, events.Offline}
	for seq := uint64(1); seq <= 60_000; seq++ {
		// Mostly new users, some updates; some IDs long enough to fill chunks fast.
		var id string
		if len(want) > 0 && rng.IntN(4) == 0 {
			id = fmt.Sprintf("@u%d:example.org", rng.IntN(len(want)))
		} else {
			id = fmt.Sprintf("@u%d:example.org", len(want))
		}
		if rng.IntN(50) == 0 {
			id = "@" + strings.Repeat("x", 200) + fmt.Sprint(seq) + ":example.org"
		}
		ev := events.Event{V: 1, UserID: id, Presence: states[rng.IntN(3)]}
		msg := ""
		if rng.IntN(3) == 0 {
			msg = fmt.Sprintf("msg %d", seq)
			ev.StatusMsg = &msg
		}
		at := base.Add(time.Duration(seq) * time.Millisecond)
		p.Apply(seq, at, ev)
		want[id] = Record{UserID: id, Seq: seq, ActiveAt: at, Presence: ev.Presence, StatusMsg: msg}
	}
	if p.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", p.Len(), len(want))
	}
	for id, w := range want {
		got, ok := p.Lookup(id)
		if !ok || got != w {
			t.Fatalf("Lookup(%q) = %+v, %v; want %+v", id, got, ok, w)
		}
	}
	seen := 0
	p.Range(func(r Record) bool {
		if want[r.UserID] != r {
			t.Fatalf("Range gave %+v, want %+v", r, want[r.UserID])
		}
		seen++
		return true
	})
	if seen != len(want) {
		t.Fatalf("Range visited %d users, want %d", seen, len(want))
	}
	if _, ok := p.Lookup("@nobody:example.org"); ok {
		t.Fatal("found a user never applied")
	}
}

// TestApplyDoesNotAllocate: folding a plain version-1 event allocates
// nothing for a known user and, for a new one, only the amortized growth of
// pages, arena chunks and index (far below one allocation a call).
func TestApplyDoesNotAllocate(t *testing.T) {
	const users = 4096
	p := New(2 * users)
	ids := make([]string, 2*users)
	for i := range ids {
		ids[i] = fmt.Sprintf("@user%07d:example.org", i)
	}
	at := time.UnixMilli(1_700_000_000_000)
	seq := uint64(0)
	for _, id := range ids[:users] {
		seq++
		p.Apply(seq, at, events.Event{V: 1, UserID: id, Presence: events.Online})
	}
	next := users
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		p.Apply(seq, at, events.Event{V: 1, UserID: ids[seq%users], Presence: events.Unavailable})
		seq++
		p.Apply(seq, at, events.Event{V: 1, UserID: ids[next], Presence: events.Online})
		next++
	})
	if allocs != 0 {
		t.Fatalf("Apply allocates %v times per call", allocs)
	}
}
