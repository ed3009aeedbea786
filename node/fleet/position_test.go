package fleet

import (
	"errors"
	"testing"
)

func TestPositionRoundTrip(t *testing.T) {
	for _, p := range []Position{{}, {Epoch: 1, Seq: 0}, {Epoch: 0x18a3f2c1b4d5e6f7, Seq: 42}, {Epoch: ^uint64(0), Seq: ^uint64(0)}} {
		got, err := ParsePosition(p.String())
		if err != nil || got != p {
			t.Fatalf("ParsePosition(%q) = %v, %v; want %v", p.String(), got, err, p)
		}
	}
}

func TestParsePositionRejects(t *testing.T) {
	for _, s := range []string{"", "-", "abc", "12-", "-12", "zz-1", "1-x", "1-01", "1-+1", "1--1", "1-1-1",
		"10000000000000000-1", "1-18446744073709551616", "ffffffffffffffffffff-1"} {
		if _, err := ParsePosition(s); !errors.Is(err, ErrMalformedPosition) {
			t.Errorf("ParsePosition(%q): err = %v, want ErrMalformedPosition", s, err)
		}
	}
}

func FuzzParsePosition(f *testing.F) {
	f.Add("18a3f2c1b4d5e6f7-42")
	f.Add("0-0")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePosition(s)
		if err != nil {
			return
		}
		if q, err := ParsePosition(p.String()); err != nil || q != p {
			t.Fatalf("%q parsed to %v, which does not round-trip (%v, %v)", s, p, q, err)
		}
	})
}
