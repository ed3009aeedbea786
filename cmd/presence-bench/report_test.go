package main

import "testing"

// TestTrim: a ratio just under its target does not print as the target.
func TestTrim(t *testing.T) {
	for v, want := range map[float64]string{
		0.949:   "0.949",
		0.95:    "0.95",
		1.0:     "1",
		1.0951:  "1.095",
		24.5249: "24.52",
		46.88:   "46.88",
		1234.5:  "1234",
	} {
		if got := trim(v); got != want {
			t.Errorf("trim(%v) = %q, want %q", v, got, want)
		}
	}
}
