package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func strp(s string) *string { return &s }

func TestCodecRoundTrip(t *testing.T) {
	for _, e := range []Event{
		{V: 1, UserID: "@alice:example.org", Presence: Online},
		{V: 1, UserID: "@alice:example.org", Presence: Unavailable, StatusMsg: strp("lunch 🍜"), Origin: "node-a", RequestID: "r1"},
		{V: 1, UserID: "@we/ird.user:[::1]:8448", Presence: Offline, StatusMsg: strp("")},
	} {
		b, err := Encode(e)
		if err != nil {
			t.Fatalf("encode %+v: %v", e, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip of %s: %+v, want %+v", b, got, e)
		}
	}
}

// TestEncodeForm pins the wire form documented in docs/events.md.
func TestEncodeForm(t *testing.T) {
	b, err := Encode(Event{UserID: "@alice:example.org", Presence: Online, StatusMsg: strp("hi"), Origin: "n1", RequestID: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"v":1,"user_id":"@alice:example.org","presence":"online","status_msg":"hi","origin":"n1","request_id":"abc"}`
	if string(b) != want {
		t.Fatalf("encoded %s, want %s", b, want)
	}
	b, _ = Encode(Event{UserID: "@alice:example.org", Presence: Offline})
	if string(b) != `{"v":1,"user_id":"@alice:example.org","presence":"offline"}` {
		t.Fatalf("minimal event encoded as %s", b)
	}
}

func TestEncodeRefuses(t *testing.T) {
	for _, c := range []struct {
		e    Event
		want error
	}{
		{Event{V: 3, UserID: "@a:b", Presence: Online}, ErrUnknownVersion},
		{Event{V: -1, UserID: "@a:b", Presence: Online}, ErrMalformed},
		{Event{UserID: "alice", Presence: Online}, ErrMalformed},
		{Event{UserID: "@a:b", Presence: "busy"}, ErrMalformed},
		{Event{UserID: "@a:b"}, ErrMalformed},
	} {
		if _, err := Encode(c.e); !errors.Is(err, c.want) {
			t.Errorf("Encode(%+v): %v, want %v", c.e, err, c.want)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		data string
		want error
	}{
		{`{"v":1,"user_id":"@a:b","presence":"online"}`, nil},
		// Fields a later minor revision may add are ignored by this reader.
		{`{"v":1,"user_id":"@a:b","presence":"online","device_id":"X","extra":{"a":[1]}}`, nil},
		{`{"v":1,"user_id":"@a:b","presence":"online","status_msg":null}`, nil},
		// A future version is recognised whatever the rest looks like.
		{`{"v":3,"user_id":"@a:b","presence":"online"}`, ErrUnknownVersion},
		{`{"v":99,"who":"@a:b","presence":{"state":5}}`, ErrUnknownVersion},
		{`{"presence":"online","v":99}`, ErrUnknownVersion},
		{`{"v":0,"user_id":"@a:b","presence":"online"}`, ErrMalformed},
		{`{"user_id":"@a:b","presence":"online"}`, ErrMalformed},
		{`{"v":-3,"user_id":"@a:b","presence":"online"}`, ErrMalformed},
		{`{"v":"1","user_id":"@a:b","presence":"online"}`, ErrMalformed},
		{`{"v":1.5,"user_id":"@a:b","presence":"online"}`, ErrMalformed},
		{`{"v":1,"user_id":"@a:b","presence":"away"}`, ErrMalformed},
		{`{"v":1,"user_id":"a:b","presence":"online"}`, ErrMalformed},
		{`{"v":1,"user_id":"@a:b","presence":"online","status_msg":5}`, ErrMalformed},
		{`{"v":1,"user_id":"@a:b"}`, ErrMalformed},
		{`[1]`, ErrMalformed},
		{`null`, ErrMalformed},
		{`not json`, ErrMalformed},
		{``, ErrMalformed},
	} {
		_, err := Decode([]byte(c.data))
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Decode(%s): %v, want %v", c.data, err, c.want)
		}
	}
}

// FuzzDecode: Decode never panics; whatever it accepts is a valid event
// that encodes and decodes to itself.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"user_id":"@a:b","presence":"online"}`,
		`{"v":1,"user_id":"@alice:example.org","presence":"unavailable","status_msg":"x","origin":"o","request_id":"r"}`,
		`{"v":99}`, `{"v":1}`, `{}`, `null`, `{"v":1,"user_id":"@a:[::1]:1","presence":"offline","status_msg":null}`,
		`{"v":2,"user_id":"@a:b","presence":"online","kind":"sync","active_ts":17,"devices":[{"id":"D","presence":"online","synced":true,"sync_ts":5,"hold_ms":300},{"id":"","presence":"unavailable","pinned":true}]}`,
		`{"v":2,"user_id":"@a:b","presence":"online","remote":true,"active_ago":100,"currently_active":true,"kind":"federation"}`,
		`{"v":1,"user_id":"@a:b","presence":"online","devices":[{"id":"D"}]}`, `{"v":2,"user_id":"@a:b","presence":"online","devices":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("Decode(%q): unclassified error %v", data, err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("Decode(%q) accepted an invalid event: %v", data, err)
		}
		b, err := Encode(e)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", e, err)
		}
		again, err := Decode(b)
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("re-decode of %s: %+v %v, want %+v", b, again, err, e)
		}
		if !json.Valid(b) {
			t.Fatalf("Encode produced invalid JSON %q", b)
		}
	})
}
