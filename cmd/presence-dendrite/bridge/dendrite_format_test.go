package bridge

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestDendriteNames(t *testing.T) {
	d := Dendrite{Prefix: "Dendrite"}
	if d.Subject() != "DendriteOutputPresenceEvent" || d.Stream() != "DendriteOutputPresenceEvent" {
		t.Fatalf("subject %q stream %q", d.Subject(), d.Stream())
	}
	if d.SyncConsumerName() != "DendriteSyncAPIPresenceConsumerPull" {
		t.Fatalf("consumer %q", d.SyncConsumerName())
	}
	if (Dendrite{Prefix: "Hs2", SyncConsumer: "X"}).SyncConsumerName() != "X" {
		t.Fatal("consumer override ignored")
	}
}

func TestEncodeChange(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	ago := func(ms int64) *int64 { return &ms }
	msg := func(s string) *string { return &s }
	cases := []struct {
		name   string
		c      Change
		maxAge time.Duration
		ts     int64
		status string
	}{
		{"activity from last_active_ago", Change{UserID: "@a:x", Presence: "online", LastActiveAgo: ago(1500), StatusMsg: msg("lunch")}, 4 * time.Minute, now.UnixMilli() - 1500, "lunch"},
		{"no status clears it", Change{UserID: "@a:x", Presence: "unavailable", LastActiveAgo: ago(0)}, 4 * time.Minute, now.UnixMilli(), ""},
		{"no last_active_ago is now", Change{UserID: "@a:x", Presence: "offline"}, 4 * time.Minute, now.UnixMilli(), ""},
		{"clamped", Change{UserID: "@a:x", Presence: "offline", LastActiveAgo: ago(3_600_000)}, 4 * time.Minute, now.Add(-4 * time.Minute).UnixMilli(), ""},
		{"exact when the clamp is off", Change{UserID: "@a:x", Presence: "offline", LastActiveAgo: ago(3_600_000)}, 0, now.UnixMilli() - 3_600_000, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := encodeChange("S", "r1", tc.c, now, tc.maxAge)
			if m.Subject != "S" || len(m.Data) != 0 {
				t.Fatalf("subject %q body %q", m.Subject, m.Data)
			}
			h := m.Header
			if h.Get("user_id") != tc.c.UserID || h.Get("presence") != string(tc.c.Presence) || h.Get(HeaderBridge) != "r1" {
				t.Fatalf("headers %v", h)
			}
			if got, _ := strconv.ParseInt(h.Get("last_active_ts"), 10, 64); got != tc.ts {
				t.Fatalf("last_active_ts %d, want %d", got, tc.ts)
			}
			if v, ok := h["status_msg"]; !ok || len(v) != 1 || v[0] != tc.status {
				t.Fatalf("status_msg %q (present %v), want %q", v, ok, tc.status)
			}
		})
	}
}

func TestDecodeInbound(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	hdr := func(kv ...string) nats.Header {
		h := nats.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	ts := strconv.FormatInt(now.UnixMilli()-2000, 10)
	c, origin, skip := decodeInbound(hdr("user_id", "@carol:remote.example:8448", "presence", "online", "last_active_ts", ts, "status_msg", ""), now)
	if skip != forward || origin != "remote.example:8448" || c.UserID != "@carol:remote.example:8448" || c.Presence != "online" ||
		c.LastActiveAgo == nil || *c.LastActiveAgo != 2000 || c.StatusMsg == nil || *c.StatusMsg != "" {
		t.Fatalf("decoded %+v origin %q skip %q", c, origin, skip)
	}
	if c, _, _ := decodeInbound(hdr("user_id", "@c:r", "presence", "unavailable", "last_active_ts", ts), now); c.StatusMsg != nil {
		t.Fatal("a missing status_msg header must stay missing (it keeps the old message)")
	}
	for name, h := range map[string]nats.Header{
		"own":          hdr("user_id", "@c:r", "presence", "online", "last_active_ts", ts, HeaderBridge, "r1"),
		"from_sync":    hdr("user_id", "@c:r", "presence", "online", "last_active_ts", ts, "from_sync", "true"),
		"no ts":        hdr("user_id", "@c:r", "presence", "online"),
		"bad user":     hdr("user_id", "carol", "presence", "online", "last_active_ts", ts),
		"bad presence": hdr("user_id", "@c:r", "presence", "busy", "last_active_ts", ts),
	} {
		want := map[string]skipReason{"own": skipOwn, "from_sync": skipFromSync}[name]
		if want == "" {
			want = skipMalformed
		}
		if _, _, skip := decodeInbound(h, now); skip != want {
			t.Errorf("%s: skip %q, want %q", name, skip, want)
		}
	}
}
