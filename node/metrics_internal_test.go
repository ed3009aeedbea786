package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/projection"
)

// seqAt is a projection's or a store's sequence, fixed. The race it stands
// for (the stream read at 3, then event 4 applied before the scrape) cannot
// be produced on demand with a real stream.
type seqAt uint64

func (s seqAt) AppliedSeq() uint64    { return uint64(s) }
func (s seqAt) StreamLastSeq() uint64 { return uint64(s) }

// TestSequencesNeverNegativeLag: when the stream's last sequence was read
// before the projection applied more, the scrape reports the stream's last
// sequence as the applied one, never below it.
func TestSequencesNeverNegativeLag(t *testing.T) {
	for _, c := range []struct{ applied, read, wantLast uint64 }{{4, 3, 4}, {4, 9, 9}, {0, 0, 0}} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(newSequences(seqAt(c.applied), seqAt(c.read)))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
		}
		if got["presenced_projection_applied_sequence"] != float64(c.applied) || got["presenced_stream_last_sequence"] != float64(c.wantLast) {
			t.Errorf("applied %d, read %d: exported %v, want last %d", c.applied, c.read, got, c.wantLast)
		}
	}
}

// BenchmarkUsersByState is the cost of one count of users by state, per
// million users (go test -run - -bench UsersByState ./node/).
func BenchmarkUsersByState(b *testing.B) {
	const users = 1_000_000
	p := projection.New(users)
	now := time.Now()
	states := []events.Presence{events.Online, events.Unavailable, events.Offline}
	for i := range users {
		p.Apply(uint64(i+1), now.Add(-time.Duration(i)*time.Millisecond), events.Event{
			V: 1, UserID: fmt.Sprintf("@user%d:example.org", i), Presence: states[i%3],
		})
	}
	pol := projection.Policy{IdleTimeout: 5 * time.Minute, OfflineTimeout: 30 * time.Minute}
	b.ResetTimer()
	for b.Loop() {
		if c := countByState(p, now, pol); c[0]+c[1]+c[2] != users {
			b.Fatalf("counted %v", c)
		}
	}
}
