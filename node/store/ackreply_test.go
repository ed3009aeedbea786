package store

import (
	"testing"
	"time"
)

func TestParseAckReply(t *testing.T) {
	ts := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	tm := "1796119200123456789"
	if got := time.Unix(0, 1796119200123456789).UTC(); !got.Equal(ts) {
		t.Fatalf("test timestamp %v is not %v", got, ts)
	}
	good := map[string]delivery{
		"$JS.ACK.PRESENCE.oc_1.1.42.7." + tm + ".0":                   {42, ts, 0},
		"$JS.ACK._.ACCHASH.PRESENCE.oc_1.3.42.7." + tm + ".5":         {42, ts, 5},
		"$JS.ACK._.ACCHASH.PRESENCE.oc_1.3.42.7." + tm + ".5.rnd":     {42, ts, 5},
		"$JS.ACK.hub.ACCHASH.PRESENCE.oc_1.3.42.7." + tm + ".5.rnd.x": {42, ts, 5},
	}
	for reply, want := range good {
		got, ok := parseAckReply(reply)
		if !ok || got.streamSeq != want.streamSeq || got.pending != want.pending || !got.storedAt.Equal(want.storedAt) {
			t.Errorf("parseAckReply(%q) = %+v, %v; want %+v", reply, got, ok, want)
		}
	}
	for _, reply := range []string{
		"",
		"_INBOX.abc",
		"$JS.ACK.PRESENCE.oc_1.1.42.7." + tm, // 8 tokens
		"$JS.ACK.PRESENCE.oc_1.1.42.7." + tm + ".0.x",                 // 10 tokens
		"$JS.ACK.PRESENCE.oc_1.1.x.7." + tm + ".0",                    // sequence not a number
		"$JS.ACK.PRESENCE.oc_1.1.0.7." + tm + ".0",                    // sequence 0
		"$JS.ACK.PRESENCE.oc_1.1.42.7.-5.0",                           // negative time
		"$JS.ACK.PRESENCE.oc_1.1.42.7." + tm + ".",                    // empty pending
		"$JS.ACK.PRESENCE.oc_1.1.99999999999999999999.7." + tm + ".0", // too long
	} {
		if d, ok := parseAckReply(reply); ok {
			t.Errorf("parseAckReply(%q) = %+v, want a refusal", reply, d)
		}
	}
}

func BenchmarkParseAckReply(b *testing.B) {
	reply := "$JS.ACK._.ACCHASH.PRESENCE.oc_1.3.1000000.1000000.1796119200123456789.0.rnd"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseAckReply(reply); !ok {
			b.Fatal("refused")
		}
	}
}
