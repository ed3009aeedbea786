package main

import (
	"testing"
	"time"
)

// TestRotate: each round starts one service further along and every
// service runs once a round; the caller's slice is left as it was.
func TestRotate(t *testing.T) {
	a, b, c := &service{name: "a"}, &service{name: "b"}, &service{name: "c"}
	in := []*service{a, b, c}
	for round, want := range []string{"abc", "bca", "cab", "abc"} {
		got := ""
		for _, s := range rotate(in, round) {
			got += s.name
		}
		if got != want {
			t.Errorf("round %d: %s, want %s", round, got, want)
		}
	}
	if in[0] != a || in[1] != b || in[2] != c {
		t.Fatal("rotate changed its argument")
	}
}

// TestSlices: -duration is cut into the whole number of slices nearest to
// -slice, never none, each warmed up for -warmup but at most a quarter of
// its length.
func TestSlices(t *testing.T) {
	for _, c := range []struct {
		duration, slice, warmup time.Duration
		want, wantWarmup        time.Duration
		n                       int
	}{
		{5 * time.Second, time.Second, 500 * time.Millisecond, time.Second, 250 * time.Millisecond, 5},
		{3 * time.Second, 2 * time.Second, 200 * time.Millisecond, 1500 * time.Millisecond, 200 * time.Millisecond, 2},
		{time.Second, 5 * time.Second, 500 * time.Millisecond, time.Second, 250 * time.Millisecond, 1},
		{2500 * time.Millisecond, time.Second, time.Second, 833333333, 208333333, 3},
	} {
		cfg := &config{duration: c.duration, slice: c.slice, warmup: c.warmup}
		if got, warmup, n := cfg.slices(); got != c.want || warmup != c.wantWarmup || n != c.n {
			t.Errorf("-duration %s -slice %s -warmup %s: %s after %s × %d, want %s after %s × %d",
				c.duration, c.slice, c.warmup, got, warmup, n, c.want, c.wantWarmup, c.n)
		}
	}
}
