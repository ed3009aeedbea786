package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeFast checks that the reflection-free decoder, whenever it accepts
// an input, decodes it exactly as encoding/json does.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"user_id":"@a:b.c","presence":"online"}`,
		`{"v":1,"user_id":"@a:b.c","presence":"online","status_msg":"hi","origin":"n1","request_id":"r"}`,
		`{"v":1,"user_id":"@a:b.c","presence":"offline","status_msg":null}`,
		` { "v" : 2 , "user_id" : "@x:y" } `,
		`{"v":01}`, `{"v":1.5}`, `{"v":-1}`, `{"v":1,"v":2}`, `{"user_id":"\u0040a:b"}`,
		`{"status_msg":"caf\u00e9"}`, `{"extra":{"a":1}}`, `{}`, `[]`, `{"v":1}x`, `{"v":1,}`,
		`{"v":1,"user_id":"@a:b.c","presence":"online","status_msg":"é"}`,
		`{"User_Id":"@a:b"}`, `{"v":999999}`, `{"v":1234567}`,
		`{"v":2,"user_id":"@a:b.c","presence":"online","kind":"sync","devices":[{"id":"D","presence":"online","synced":true}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// DecodeOwned (which aliases data) and Decode (which copies it)
		// agree on every input.
		want, wantErr := Decode(data)
		got, gotErr := DecodeOwned(append([]byte(nil), data...))
		if (wantErr == nil) != (gotErr == nil) || !reflect.DeepEqual(want, got) {
			t.Fatalf("decode %q: Decode %+v, %v; DecodeOwned %+v, %v", data, want, wantErr, got, gotErr)
		}
		fast, ok := decodeFast(data, string(data))
		if !ok {
			return
		}
		var slow Event
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json rejects it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decode %q: fast %+v, encoding/json %+v", data, fast, slow)
		}
	})
}

// TestDecodeFastTakesCommonEvents makes sure the events this build writes
// take the fast path, which is what makes replays fast.
func TestDecodeFastTakesCommonEvents(t *testing.T) {
	msg := "in a meeting"
	for _, e := range []Event{
		{V: 1, UserID: "@alice:example.org", Presence: Online},
		{V: 1, UserID: "@bob:example.org:8448", Presence: Unavailable, StatusMsg: &msg, Origin: "node-1", RequestID: "0123abcd"},
	} {
		data, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeFast(data, string(data))
		if !ok || !reflect.DeepEqual(got, e) {
			t.Fatalf("decodeFast(%s) = %+v, %v; want %+v", data, got, ok, e)
		}
	}
}

// TestPlainString holds the eight-bytes-at-a-time scan to the byte-by-byte
// rule for every byte value at every position of strings around a word
// long.
func TestPlainString(t *testing.T) {
	slow := func(data string) (string, bool) {
		for j := 1; j < len(data); j++ {
			switch c := data[j]; {
			case c == '"':
				return data[1:j], true
			case c == '\\' || c < 0x20 || c >= 0x80:
				return "", false
			}
		}
		return "", false
	}
	for n := 0; n <= 18; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(`"` + strings.Repeat("a", n) + `"`)
				b[1+pos] = byte(c)
				want, wantOK := slow(string(b))
				got, next, ok := plainString(string(b), 0)
				if ok != wantOK || got != want || (ok && next != len(want)+2) {
					t.Fatalf("plainString(%q) = %q, %d, %v; want %q, %v", b, got, next, ok, want, wantOK)
				}
			}
		}
	}
}
