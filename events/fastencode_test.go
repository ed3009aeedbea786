package events

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestEncodeFastMatchesMarshal: the fast encoder writes what json.Marshal
// writes, and declines what it cannot write the same.
func TestEncodeFastMatchesMarshal(t *testing.T) {
	msg, empty, odd := "in a meeting", "", `<b>"é"</b>`
	ts := int64(5)
	taken := 0
	for _, e := range []Event{
		{V: 1, UserID: "@a:example.org", Presence: Online},
		{V: 1, UserID: "@a:example.org", Presence: Offline, StatusMsg: &msg, Origin: "node-1", RequestID: "0123abcd"},
		{V: 1, UserID: "@a:example.org", Presence: Unavailable, StatusMsg: &empty, RequestID: "x"},
		{V: 1, UserID: "@a:example.org", Presence: Online, StatusMsg: &odd},
		{V: 1, UserID: "@a&b:example.org", Presence: Online},
		{V: 1, UserID: "@a:example.org", Presence: Online, Origin: "nöde"},
		{V: 2, UserID: "@a:example.org", Presence: Online, ActiveTS: &ts},
		{V: 1, UserID: "@a:example.org", Presence: Online, Kind: KindSync},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := encodeFast(&e)
		if ok {
			taken++
			if !bytes.Equal(got, want) {
				t.Errorf("encodeFast(%+v) = %s, json.Marshal %s", e, got, want)
			}
		}
		if enc, err := Encode(e); err == nil {
			if d, err := Decode(enc); err != nil || d.UserID != e.UserID || d.Presence != e.Presence {
				t.Errorf("Encode(%+v) = %s does not decode back: %+v, %v", e, enc, d, err)
			}
		}
	}
	if taken != 3 {
		t.Errorf("fast path took %d events, want the 3 plain version-1 ones", taken)
	}
}
