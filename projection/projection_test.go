package projection

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ev(user string, p events.Presence, msg ...string) events.Event {
	e := events.Event{V: 1, UserID: user, Presence: p}
	if len(msg) > 0 {
		e.StatusMsg = &msg[0]
	}
	return e
}

func encode(t testing.TB, e events.Event) []byte {
	t.Helper()
	b, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestApplyInOrder(t *testing.T) {
	p := New(10)
	p.Apply(1, t0, ev("@a:x", events.Online, "one"))
	p.Apply(2, t0.Add(time.Second), ev("@b:x", events.Unavailable))
	p.Apply(3, t0.Add(2*time.Second), ev("@a:x", events.Offline))
	if p.AppliedSeq() != 3 || p.Len() != 2 {
		t.Fatalf("applied %d, len %d", p.AppliedSeq(), p.Len())
	}
	a, ok := p.Lookup("@a:x")
	want := Record{UserID: "@a:x", Seq: 3, ActiveAt: t0.Add(2 * time.Second), Presence: events.Offline}
	if !ok || !a.ActiveAt.Equal(want.ActiveAt) || a.Seq != want.Seq || a.Presence != want.Presence || a.StatusMsg != "" {
		t.Fatalf("@a:x = %+v, want %+v (a later event replaces the state, status message included)", a, want)
	}
	if _, ok := p.Lookup("@c:x"); ok {
		t.Fatal("unknown user found")
	}
}

// TestApplySkipsAppliedSequences: replaying an overlapping range, or a
// stale message, changes nothing.
func TestApplySkipsAppliedSequences(t *testing.T) {
	p := New(0)
	p.Apply(5, t0, ev("@a:x", events.Online, "five"))
	before := p.Digest()
	p.Apply(3, t0.Add(time.Hour), ev("@a:x", events.Offline, "three"))
	p.Apply(5, t0.Add(time.Hour), ev("@a:x", events.Offline, "five again"))
	p.Apply(4, t0, ev("@b:x", events.Online))
	if err := p.ApplyMessage(2, t0, encode(t, ev("@c:x", events.Online))); err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyMessage(1, t0, []byte(`{"v":99}`)); err != nil {
		t.Fatalf("an already-applied sequence is not even decoded: %v", err)
	}
	if p.Digest() != before || p.AppliedSeq() != 5 || p.Len() != 1 {
		t.Fatalf("state changed by old sequences: %s → %s, applied %d", before, p.Digest(), p.AppliedSeq())
	}
	if u, m := p.Counters(); u != 0 || m != 0 {
		t.Fatalf("counters %d %d", u, m)
	}
}

// TestNewestWinsPerUser: each user's state is that of their highest
// sequence, however users interleave.
func TestNewestWinsPerUser(t *testing.T) {
	p := New(0)
	users := []string{"@a:x", "@b:x", "@c:x"}
	for seq := uint64(1); seq <= 30; seq++ {
		u := users[seq%3]
		p.Apply(seq, t0.Add(time.Duration(seq)*time.Second), ev(u, events.Online, fmt.Sprint(seq)))
	}
	for i, u := range users {
		r, _ := p.Lookup(u)
		want := uint64(30 - (30-i)%3) // highest seq with seq%3 == i
		if r.Seq != want || r.StatusMsg != fmt.Sprint(want) {
			t.Errorf("%s: seq %d msg %q, want %d", u, r.Seq, r.StatusMsg, want)
		}
	}
}

// TestApplyMessageSkipsAndCounts: an unknown version and a malformed event
// are counted, not applied, and their sequence counts as applied.
func TestApplyMessageSkipsAndCounts(t *testing.T) {
	p := New(0)
	if err := p.ApplyMessage(1, t0, encode(t, ev("@a:x", events.Online, "v1"))); err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyMessage(2, t0.Add(time.Second), []byte(`{"v":3,"user_id":"@a:x","presence":"offline"}`)); !errors.Is(err, events.ErrUnknownVersion) {
		t.Fatalf("v3: %v", err)
	}
	if err := p.ApplyMessage(3, t0, []byte(`{"v":99,"anything":["goes"]}`)); !errors.Is(err, events.ErrUnknownVersion) {
		t.Fatalf("v99: %v", err)
	}
	if err := p.ApplyMessage(4, t0, []byte(`garbage`)); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
	if err := p.ApplyMessage(5, t0, []byte(`{"v":1,"user_id":"nobody","presence":"online"}`)); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("bad user: %v", err)
	}
	if u, m := p.Counters(); u != 2 || m != 2 {
		t.Fatalf("counters unknown=%d malformed=%d, want 2 and 2", u, m)
	}
	if p.AppliedSeq() != 5 || p.Len() != 1 {
		t.Fatalf("applied %d len %d", p.AppliedSeq(), p.Len())
	}
	if r, _ := p.Lookup("@a:x"); r.Presence != events.Online || r.StatusMsg != "v1" || r.Seq != 1 {
		t.Fatalf("@a:x = %+v after skipped events", r)
	}
	// Re-delivery of a skipped sequence is not counted twice.
	_ = p.ApplyMessage(3, t0, []byte(`{"v":99}`))
	if u, _ := p.Counters(); u != 2 {
		t.Fatalf("re-delivered unknown version counted again: %d", u)
	}
}

// TestDigest: projections with the same users in the same states have the
// same digest, however they got there (a live follower that saw every event
// and a replay that saw only the last per user); any difference shows.
func TestDigest(t *testing.T) {
	if New(0).Digest() != New(100).Digest() {
		t.Fatal("empty projections differ")
	}
	live := New(0)
	live.Apply(1, t0, ev("@a:x", events.Online, "old"))
	live.Apply(2, t0.Add(time.Second), ev("@b:x", events.Unavailable))
	live.Apply(3, t0.Add(2*time.Second), ev("@a:x", events.Online, "new"))
	replay := New(0)
	replay.Apply(2, t0.Add(time.Second), ev("@b:x", events.Unavailable))
	replay.Apply(3, t0.Add(2*time.Second), ev("@a:x", events.Online, "new"))
	if live.Digest() != replay.Digest() {
		t.Fatalf("live %s, replay %s", live.Digest(), replay.Digest())
	}

	base := func() *Projection {
		p := New(0)
		p.Apply(2, t0.Add(time.Second), ev("@b:x", events.Unavailable))
		return p
	}
	variants := map[string]func(*Projection){
		"status message": func(p *Projection) { p.Apply(3, t0.Add(2*time.Second), ev("@a:x", events.Online, "other")) },
		"presence":       func(p *Projection) { p.Apply(3, t0.Add(2*time.Second), ev("@a:x", events.Offline, "new")) },
		"time":           func(p *Projection) { p.Apply(3, t0.Add(3*time.Second), ev("@a:x", events.Online, "new")) },
		"sequence":       func(p *Projection) { p.Apply(4, t0.Add(2*time.Second), ev("@a:x", events.Online, "new")) },
		"user":           func(p *Projection) { p.Apply(3, t0.Add(2*time.Second), ev("@c:x", events.Online, "new")) },
		"missing user":   func(*Projection) {},
	}
	for name, f := range variants {
		p := base()
		f(p)
		if p.Digest() == live.Digest() {
			t.Errorf("digest does not see a different %s", name)
		}
	}
}

func TestRange(t *testing.T) {
	p := New(0)
	for i := range 100 {
		p.Apply(uint64(i+1), t0, ev(fmt.Sprintf("@u%d:x", i), events.Online))
	}
	seen := map[string]bool{}
	p.Range(func(r Record) bool { seen[r.UserID] = true; return true })
	if len(seen) != 100 {
		t.Fatalf("Range visited %d users", len(seen))
	}
	n := 0
	p.Range(func(Record) bool { n++; return n < 7 })
	if n != 7 {
		t.Fatalf("Range did not stop: %d", n)
	}
}

// TestConcurrentQueries: queries run while the single writer applies.
func TestConcurrentQueries(t *testing.T) {
	p := New(0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p.Status("@u1:x", t0, Policy{})
				_ = p.Digest()
				p.Counters()
			}
		}()
	}
	for i := range 2000 {
		p.Apply(uint64(i+1), t0, ev(fmt.Sprintf("@u%d:x", i%50), events.Online))
	}
	close(stop)
	wg.Wait()
	if p.Len() != 50 || p.AppliedSeq() != 2000 {
		t.Fatalf("len %d applied %d", p.Len(), p.AppliedSeq())
	}
}
