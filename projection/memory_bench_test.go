package projection

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
)

// BenchmarkApply measures folding one event into a projection of b.N users
// (allocs/op: the pages, arena chunks and index growth, amortized).
func BenchmarkApply(b *testing.B) {
	p := New(b.N)
	ids := userIDs(b.N)
	at := time.UnixMilli(1_700_000_000_000)
	b.ReportAllocs()
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
// no status message, the common case: plain version-1 users without
// indexes, the same with the change feed and timer index (every user online,
// so every user has a timer), users with two syncing devices, and plain
// users with a 12-byte status message each.
func BenchmarkMemoryPerUser(b *testing.B) {
	const users = 1_000_000
	at := time.UnixMilli(1_700_000_000_000)
	twoDevices := func(id string) events.Event {
		return events.Event{UserID: id, Presence: events.Online, Kind: events.KindSync, Devices: []events.Device{
			{ID: "ABCDEFGHIJ", Presence: events.Online, Synced: true, HoldMS: 30000},
			{ID: "KLMNOPQRST", Presence: events.Unavailable, Pinned: true},
		}}
	}
	plain := func(id string) events.Event { return events.Event{V: 1, UserID: id, Presence: events.Online} }
	msg := "in a meeting" // 12 bytes
	withMsg := func(id string) events.Event {
		return events.Event{V: 1, UserID: id, Presence: events.Online, StatusMsg: &msg}
	}
	for _, c := range []struct {
		name string
		opts Options
		ev   func(string) events.Event
	}{
		{"v1", Options{}, plain},
		{"v1-feed-timers", Options{Feed: true, Timers: true, Policy: Policy{IdleTimeout: 5 * time.Minute, OfflineTimeout: 30 * time.Minute}}, plain},
		{"two-devices", Options{}, twoDevices},
		{"v1-status-msg", Options{}, withMsg},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				before := heapAlloc()
				ids := userIDs(users)
				p := New(users, c.opts)
				for j, id := range ids {
					p.Apply(uint64(j+1), at, c.ev(id))
				}
				ids = nil
				after := heapAlloc()
				b.ReportMetric(float64(after-before)/users, "bytes/user")
				runtime.KeepAlive(p)
			}
		})
	}
}

// BenchmarkApplyMessage measures decoding and folding one stored message,
// the work of a replay per user, for a plain version-1 event and for a
// version-2 event with two devices, on a projection of b.N users.
func BenchmarkApplyMessage(b *testing.B) {
	msg := "in a meeting"
	for _, c := range []struct {
		name string
		ev   events.Event
	}{
		{"v1", events.Event{UserID: "@user0000000:example.org", Presence: events.Online, StatusMsg: &msg, Origin: "node-1", RequestID: "0123456789abcdef0123456789abcdef"}},
		{"v2-two-devices", events.Event{UserID: "@user0000000:example.org", Presence: events.Online, Kind: events.KindSync, Origin: "node-1", RequestID: "0123456789abcdef0123456789abcdef",
			ActiveTS: ptr(int64(1_699_999_999_000)), Devices: []events.Device{
				{ID: "ABCDEFGHIJ", Presence: events.Online, Synced: true, HoldMS: 30000},
				{ID: "KLMNOPQRST", Presence: events.Unavailable, Pinned: true, ActiveTS: ptr(int64(1_699_999_000_000))},
			}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ids := userIDs(b.N)
			data := make([][]byte, b.N)
			for i, id := range ids {
				e := c.ev
				e.UserID = id
				var err error
				if data[i], err = events.Encode(e); err != nil {
					b.Fatal(err)
				}
			}
			p := New(b.N)
			at := time.UnixMilli(1_700_000_000_000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := p.ApplyMessage(uint64(i+1), at, data[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

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
