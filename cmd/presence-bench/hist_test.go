package main

import (
	"testing"
	"time"
)

func TestHistQuantilesWithinOnePercent(t *testing.T) {
	h := newHist()
	for i := 1; i <= 100_000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {0.999, 99900 * time.Microsecond}} {
		got := h.quantile(c.q)
		if diff := float64(got-c.want) / float64(c.want); diff < -0.01 || diff > 0.01 {
			t.Errorf("quantile(%v) = %s, want %s within 1%%", c.q, got, c.want)
		}
	}
}

func TestHistBucketsRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 1000, 123456789, 1 << 40, 1<<63 + 12345} {
		b := bucketOf(v)
		mid := bucketValue(b)
		if bucketOf(mid) != b {
			t.Errorf("value %d: bucket %d's middle %d falls in bucket %d", v, b, mid, bucketOf(mid))
		}
		if v >= 128 {
			if diff := float64(mid) - float64(v); diff/float64(v) > 0.01 || diff/float64(v) < -0.01 {
				t.Errorf("value %d read back as %d", v, mid)
			}
		}
	}
}

func TestHistMerge(t *testing.T) {
	a, b := newHist(), newHist()
	a.record(time.Millisecond)
	b.record(3 * time.Millisecond)
	b.record(5 * time.Millisecond)
	a.merge(b)
	if a.n != 3 || a.quantile(1) != 5*time.Millisecond {
		t.Fatalf("merged: n=%d max quantile %s", a.n, a.quantile(1))
	}
	if got := a.quantile(0.5); got < 2970*time.Microsecond || got > 3030*time.Microsecond {
		t.Fatalf("median %s, want about 3ms", got)
	}
}
