package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/projection"
)

// TestStatusJSONMatchesEncodingJSON holds the hand-built GET body to what
// encoding/json produces for the same fields.
func TestStatusJSONMatchesEncodingJSON(t *testing.T) {
	type body struct {
		Presence        events.Presence `json:"presence"`
		LastActiveAgo   int64           `json:"last_active_ago"`
		StatusMsg       string          `json:"status_msg,omitempty"`
		CurrentlyActive *bool           `json:"currently_active,omitempty"`
	}
	for _, st := range []projection.Status{
		{Presence: events.Online, LastActiveAgo: 1500 * time.Millisecond, CurrentlyActive: true},
		{Presence: events.Online, LastActiveAgo: 2 * time.Hour, StatusMsg: "plain"},
		{Presence: events.Unavailable, StatusMsg: `quote " and \ and <tag> & café ☕ ` + "\x01\n\t"},
		{Presence: events.Offline, LastActiveAgo: 0},
		{Presence: events.Offline, StatusMsg: "\u2028 line separator"},
	} {
		want := body{Presence: st.Presence, LastActiveAgo: st.LastActiveAgo.Milliseconds(), StatusMsg: st.StatusMsg}
		if st.Presence == events.Online {
			active := st.CurrentlyActive
			want.CurrentlyActive = &active
		}
		w, _ := json.Marshal(want)
		if got := appendStatusJSON(nil, st); string(got) != string(w) {
			t.Errorf("appendStatusJSON(%+v)\n got %s\nwant %s", st, got, w)
		}
	}
}
