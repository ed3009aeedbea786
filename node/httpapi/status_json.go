package httpapi

import (
	"encoding/json"
	"strconv"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/projection"
)

// appendStatusJSON appends the GET body for st:
//
//	{"presence":…,"last_active_ago":…,"status_msg":…,"currently_active":…}
//
// status_msg is left out when empty and currently_active unless the user
// reads as online. The body is built by hand because GET is the hot path;
// TestStatusJSONMatchesEncodingJSON holds it to encoding/json's output.
func appendStatusJSON(b []byte, st projection.Status) []byte {
	b = append(b, `{"presence":"`...)
	b = append(b, st.Presence...)
	b = append(b, `","last_active_ago":`...)
	b = strconv.AppendInt(b, st.LastActiveAgo.Milliseconds(), 10)
	if st.StatusMsg != "" {
		b = append(b, `,"status_msg":`...)
		b = appendJSONString(b, st.StatusMsg)
	}
	if st.Presence == events.Online {
		b = append(b, `,"currently_active":`...)
		b = strconv.AppendBool(b, st.CurrentlyActive)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, escaped as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
