package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func i64(v int64) *int64 { return &v }
func boolp(v bool) *bool { return &v }

func TestV2RoundTrip(t *testing.T) {
	for _, e := range []Event{
		{V: 2, UserID: "@a:x", Presence: Online, Kind: KindSync, ActiveTS: i64(1_700_000_000_000), Devices: []Device{
			{ID: "PHONE", Presence: Online, Synced: true, HoldMS: 30000},
			{ID: "", Presence: Unavailable, ActiveTS: i64(1_699_999_000_000), Pinned: true},
			{ID: "LAPTOP é", Presence: Offline, Synced: true, SyncTS: i64(1_699_999_999_000), ActiveTS: i64(5)},
		}},
		{V: 2, UserID: "@r:remote.org", Presence: Online, Kind: KindFederation, Remote: true, ActiveAgo: i64(1234), CurrentlyActive: boolp(false), StatusMsg: strp("hi")},
		{V: 2, UserID: "@r:remote.org", Presence: Offline, Remote: true},
		{V: 2, UserID: "@a:x", Presence: Online, Kind: KindExpire, ActiveTS: i64(0)},
		{V: 2, UserID: "@a:x", Presence: Online, Kind: KindPut},
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
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, got, e)
		}
	}
}

// TestV2EncodeForm pins the version-2 wire form documented in docs/events.md,
// and that an event using no version-2 field is written as version 1 whatever
// its V says (so a node that sets V to SchemaVersion keeps writing v1 PUTs).
func TestV2EncodeForm(t *testing.T) {
	b, err := Encode(Event{UserID: "@alice:example.org", Presence: Online, Kind: KindSync, ActiveTS: i64(1700000000000),
		Devices: []Device{{ID: "PHONE", Presence: Online, Synced: true, SyncTS: i64(1700000001000), HoldMS: 30000}, {ID: "", Presence: Unavailable, ActiveTS: i64(1699999000000), Pinned: true}}})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"v":2,"user_id":"@alice:example.org","presence":"online","kind":"sync","active_ts":1700000000000,"devices":[{"id":"PHONE","presence":"online","synced":true,"sync_ts":1700000001000,"hold_ms":30000},{"id":"","presence":"unavailable","active_ts":1699999000000,"pinned":true}]}`
	if string(b) != want {
		t.Fatalf("encoded\n%s, want\n%s", b, want)
	}
	for _, v := range []int{0, 1, SchemaVersion} {
		b, err := Encode(Event{V: v, UserID: "@alice:example.org", Presence: Offline, Devices: []Device{}})
		if err != nil || string(b) != `{"v":1,"user_id":"@alice:example.org","presence":"offline"}` {
			t.Fatalf("V=%d without version-2 fields encoded as %s (%v)", v, b, err)
		}
	}
}

func TestV2Refused(t *testing.T) {
	long := strings.Repeat("d", MaxDeviceIDLength+1)
	many := make([]Device, MaxDevices+1)
	for i := range many {
		many[i] = Device{ID: strings.Repeat("x", i), Presence: Online}
	}
	for name, e := range map[string]Event{
		"kind":                        {UserID: "@a:b", Presence: Online, Kind: "bogus"},
		"negative active_ts":          {UserID: "@a:b", Presence: Online, ActiveTS: i64(-1)},
		"huge active_ts":              {UserID: "@a:b", Presence: Online, ActiveTS: i64(MaxTimestampMS + 1)},
		"active_ago not remote":       {UserID: "@a:b", Presence: Online, ActiveAgo: i64(1)},
		"currently_active not remote": {UserID: "@a:b", Presence: Online, CurrentlyActive: boolp(true)},
		"ts and ago":                  {UserID: "@a:b", Presence: Online, Remote: true, ActiveAgo: i64(1), ActiveTS: i64(1)},
		"negative ago":                {UserID: "@a:b", Presence: Online, Remote: true, ActiveAgo: i64(-5)},
		"remote devices":              {UserID: "@a:b", Presence: Online, Remote: true, Devices: []Device{{Presence: Online}}},
		"device presence":             {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: "D", Presence: "busy"}}},
		"device id too long":          {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: long, Presence: Online}}},
		"device id not utf-8":         {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: "\xff", Presence: Online}}},
		"duplicate device":            {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: "D", Presence: Online}, {ID: "D", Presence: Offline}}},
		"too many devices":            {UserID: "@a:b", Presence: Online, Devices: many},
		"sync_ts never synced":        {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: "D", Presence: Online, SyncTS: i64(1)}}},
		"hold never synced":           {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: "D", Presence: Online, HoldMS: 1}}},
		"hold too long":               {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: "D", Presence: Online, Synced: true, HoldMS: MaxHoldMS + 1}}},
		"negative hold":               {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: "D", Presence: Online, Synced: true, HoldMS: -1}}},
		"pinned online":               {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: "D", Presence: Online, Pinned: true}}},
		"device sync_ts":              {UserID: "@a:b", Presence: Online, Devices: []Device{{ID: "D", Presence: Online, Synced: true, SyncTS: i64(-1)}}},
	} {
		if _, err := Encode(e); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Encode gave %v, want ErrMalformed", name, err)
		}
		if name == "device id not utf-8" {
			continue // encoding/json would write it as U+FFFD, a valid ID
		}
		e.V = 2
		data, _ := json.Marshal(e)
		if _, err := Decode(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode(%s) gave %v, want ErrMalformed", name, data, err)
		}
	}
	if ok := (&Event{V: 1, UserID: "@a:b", Presence: Online, Remote: true}).Validate(); !errors.Is(ok, ErrMalformed) {
		t.Errorf("a version-1 event with a version-2 field validated: %v", ok)
	}
}

// TestV1IgnoresV2Fields: a version-1 message is read as version-1 readers
// read it, with version-2 field names ignored like any unknown field, even
// when their values would not parse as version 2.
func TestV1IgnoresV2Fields(t *testing.T) {
	want := Event{V: 1, UserID: "@a:b", Presence: Online}
	for _, data := range []string{
		`{"v":1,"user_id":"@a:b","presence":"online","devices":[{"id":"D","presence":"offline"}],"remote":true,"kind":"sync"}`,
		`{"v":1,"user_id":"@a:b","presence":"online","devices":"nonsense","active_ts":"x","currently_active":3}`,
		`{"v":2,"user_id":"@a:b","presence":"online","devices":[]}`,
	} {
		got, err := Decode([]byte(data))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(%s) = %+v, %v; want %+v", data, got, err, want)
		}
	}
	if _, err := Decode([]byte(`{"v":2,"user_id":"@a:b","presence":"online","devices":"nonsense"}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a version-2 event with a bad devices field: %v", err)
	}
}
