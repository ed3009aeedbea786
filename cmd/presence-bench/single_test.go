package main

import "testing"

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
