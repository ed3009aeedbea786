package projection

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
)

// BenchmarkApply measures folding one event into a projection of b.N users.
func BenchmarkApply(b *testing.B) {
	p := New(b.N)
	ids := userIDs(b.N)
	at := time.UnixMilli(1_700_000_000_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Apply(uint64(i+1), at, events.Event{V: 1, UserID: ids[i], Presence: events.Online})
	}
}

// BenchmarkStatus measures one query on a projection of 100k users.
func BenchmarkStatus(b *testing.B) {
	const users = 100_000
	p := New(users)
	ids := userIDs(users)
	at := time.UnixMilli(1_700_000_000_000)
	for i, id := range ids {
		p.Apply(uint64(i+1), at, events.Event{V: 1, UserID: id, Presence: events.Online})
	}
	now := at.Add(time.Minute)
	pol := Policy{IdleTimeout: 5 * time.Minute, OfflineTimeout: 30 * time.Minute}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := p.Status(ids[i%users], now, pol); !ok {
				b.Fatal("missing user")
			}
			i++
		}
	})
}

// BenchmarkMemoryPerUser reports the heap the projection holds per user
// (bytes/user) for 1M users with IDs like "@user1234567:example.org" and
// no status message, the common case.
func BenchmarkMemoryPerUser(b *testing.B) {
	const users = 1_000_000
	for i := 0; i < b.N; i++ {
		at := time.UnixMilli(1_700_000_000_000)
		before := heapAlloc()
		ids := userIDs(users)
		p := New(users)
		for j, id := range ids {
			p.Apply(uint64(j+1), at, events.Event{V: 1, UserID: id, Presence: events.Online})
		}
		ids = nil
		after := heapAlloc()
		b.ReportMetric(float64(after-before)/users, "bytes/user")
		runtime.KeepAlive(p)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func userIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("@user%07d:example.org", i)
	}
	return ids
}
