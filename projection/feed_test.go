package projection

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
)

func TestChangesInStreamOrderOncePerUser(t *testing.T) {
	p := New(0, Options{Feed: true})
	if rs, next := p.Changes(0, 10); len(rs) != 0 || next != 0 {
		t.Fatalf("empty feed: %v %d", rs, next)
	}
	p.Apply(1, t0, ev("@a:x", events.Online, "1"))
	p.Apply(2, t0, ev("@b:x", events.Online))
	p.Apply(3, t0, ev("@c:x", events.Online))
	p.Apply(4, t0, ev("@a:x", events.Offline, "4"))
	rs, next := p.Changes(0, 10)
	if got := users(rs); !slices.Equal(got, []string{"@b:x", "@c:x", "@a:x"}) || next != 4 || rs[2].StatusMsg != "4" {
		t.Fatalf("changes %v next %d", got, next)
	}
	rs, next = p.Changes(0, 2)
	if got := users(rs); !slices.Equal(got, []string{"@b:x", "@c:x"}) || next != 3 {
		t.Fatalf("limited: %v next %d", got, next)
	}
	rs, next = p.Changes(next, 2)
	if got := users(rs); !slices.Equal(got, []string{"@a:x"}) || next != 4 {
		t.Fatalf("resumed: %v next %d", got, next)
	}
	if rs, next := p.Changes(4, 10); len(rs) != 0 || next != 4 {
		t.Fatalf("caught up: %v %d", rs, next)
	}
	if rs, next := p.Changes(1, 0); rs != nil || next != 1 {
		t.Fatal("limit 0")
	}
	if rs, _ := New(0).Changes(0, 10); rs != nil {
		t.Fatal("a projection without the feed answered")
	}
	// Skipped sequences count as applied but are not changes.
	p.Skip(5, events.ErrMalformed)
	p.Apply(6, t0, ev("@b:x", events.Unavailable))
	if rs, next := p.Changes(4, 10); !slices.Equal(users(rs), []string{"@b:x"}) || next != 6 {
		t.Fatalf("after a skip: %v %d", users(rs), next)
	}
}

func users(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.UserID
	}
	return out
}

// TestChangesMatchModel compares the feed, through many replacements and
// compactions, with the list it must give: users by latest sequence.
func TestChangesMatchModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := New(0, Options{Feed: true})
	latest := map[string]uint64{}
	seq := uint64(0)
	for step := 0; step < 30_000; step++ {
		seq += 1 + uint64(rng.IntN(3))
		u := fmt.Sprintf("@u%d:x", rng.IntN(300))
		p.Apply(seq, t0, ev(u, events.Online))
		latest[u] = seq
		if step%997 != 0 {
			continue
		}
		since := uint64(rng.Int64N(int64(seq + 1)))
		limit := 1 + rng.IntN(400)
		var want []string
		type us struct {
			u string
			s uint64
		}
		var all []us
		for u, s := range latest {
			if s > since {
				all = append(all, us{u, s})
			}
		}
		slices.SortFunc(all, func(a, b us) int { return int(a.s) - int(b.s) })
		for _, x := range all[:min(limit, len(all))] {
			want = append(want, x.u)
		}
		rs, next := p.Changes(since, limit)
		if got := users(rs); !slices.Equal(got, want) {
			t.Fatalf("step %d: Changes(%d, %d) = %v, want %v", step, since, limit, got, want)
		}
		if len(want) > 0 && next != latest[want[len(want)-1]] || len(want) == 0 && next != since {
			t.Fatalf("next %d", next)
		}
	}
	if n := len(p.feed.seqs); n > 2*len(latest)+1024 {
		t.Fatalf("feed holds %d positions for %d users: not compacted", n, len(latest))
	}
}

// TestChangesWhileApplying: a reader following the feed while the writer
// applies sees every user's final state, and each state at most once.
func TestChangesWhileApplying(t *testing.T) {
	p := New(0, Options{Feed: true})
	const n = 20_000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			p.Apply(uint64(i), t0, ev(fmt.Sprintf("@u%d:x", i%500), events.Online, fmt.Sprint(i)))
		}
	}()
	seen := map[string]uint64{}
	var since uint64
	for {
		rs, next := p.Changes(since, 64)
		for _, r := range rs {
			if r.Seq <= seen[r.UserID] {
				t.Fatalf("%s seen again at %d after %d", r.UserID, r.Seq, seen[r.UserID])
			}
			seen[r.UserID] = r.Seq
		}
		since = next
		if since == n {
			break
		}
	}
	wg.Wait()
	for i := n - 499; i <= n; i++ {
		if u := fmt.Sprintf("@u%d:x", i%500); seen[u] != uint64(i) {
			t.Fatalf("%s last seen at %d, want %d", u, seen[u], i)
		}
	}
}

// TestTimerIndexDrivesExpiry runs the loop a node runs: take what is due,
// expire it, store it. Every transition of a PUT and of a syncing device is
// stored exactly once, at its time, and then no timer is left.
func TestTimerIndexDrivesExpiry(t *testing.T) {
	s := newStore(t, fleet)
	s.p = New(0, Options{Timers: true, Policy: fleet, TimerRetry: 5 * time.Second})
	s.put(t0, "@a:x", "", events.Online)
	s.sync(t0, "@b:x", "PHONE", events.Online, 0)
	s.put(t0, "@c:x", "", events.Offline)
	if s.p.Timers() != 2 || !s.p.NextDue().Equal(t0.Add(30*time.Second)) {
		t.Fatalf("timers %d next %s", s.p.Timers(), s.p.NextDue().Sub(t0))
	}
	if due := s.p.Due(t0.Add(30*time.Second-time.Millisecond), 10); len(due) != 0 {
		t.Fatalf("due early: %v", due)
	}
	var fired []string
	for at := t0; at.Before(t0.Add(2 * time.Hour)); at = at.Add(250 * time.Millisecond) {
		for _, u := range s.p.Due(at, 10) {
			if !s.expire(at, u) {
				t.Fatalf("%s offered at +%s with nothing due", u, at.Sub(t0))
			}
			fired = append(fired, fmt.Sprintf("%s+%s", u, at.Sub(t0)))
		}
	}
	want := []string{"@b:x+30s", "@a:x+1m0s", "@a:x+5m0s", "@a:x+30m0s"}
	if !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	if s.p.Timers() != 0 || !s.p.NextDue().IsZero() {
		t.Fatalf("%d timers left", s.p.Timers())
	}
	// A user offered but not expired (the publish failed) is offered again
	// after the retry delay, and a new state re-schedules them.
	s.put(t0.Add(3*time.Hour), "@a:x", "", events.Online)
	at := t0.Add(3*time.Hour + time.Minute)
	if due := s.p.Due(at, 10); !slices.Equal(due, []string{"@a:x"}) {
		t.Fatalf("due %v", due)
	}
	if due := s.p.Due(at.Add(4*time.Second), 10); len(due) != 0 {
		t.Fatalf("offered again before the retry delay: %v", due)
	}
	if due := s.p.Due(at.Add(5*time.Second), 10); !slices.Equal(due, []string{"@a:x"}) {
		t.Fatalf("not offered again after the retry delay: %v", due)
	}
	s.put(at.Add(6*time.Second), "@a:x", "", events.Offline)
	if s.p.Timers() != 0 {
		t.Fatal("an offline PUT left a timer")
	}
	if New(0).Due(at, 10) != nil || !New(0).NextDue().IsZero() {
		t.Fatal("a projection without timers answered")
	}
}

// TestTimerHeapMatchesModel checks the indexed heap against a map through
// many re-schedules and removals.
func TestTimerHeapMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tm := &timers{retry: time.Second}
	want := map[uint32]int64{}
	for step := 0; step < 20_000; step++ {
		ref := refOf(rng.IntN(4), uint32(rng.IntN(200)))
		if rng.IntN(4) == 0 {
			tm.set(ref, time.Time{})
			delete(want, ref)
		} else {
			ms := rng.Int64N(1_000_000)
			tm.set(ref, time.UnixMilli(ms))
			want[ref] = ms
		}
		if len(tm.heap) != len(want) {
			t.Fatalf("heap %d, model %d", len(tm.heap), len(want))
		}
		if len(want) > 0 {
			lo := int64(1 << 62)
			for _, ms := range want {
				lo = min(lo, ms)
			}
			if tm.heap[0].atMS != lo {
				t.Fatalf("top %d, want %d", tm.heap[0].atMS, lo)
			}
		}
	}
	for h, x := range tm.heap {
		if int(tm.pos[x.ref>>slotBits][x.ref&slotMask]) != h+1 {
			t.Fatal("position index out of step")
		}
	}
}
