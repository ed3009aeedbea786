package events

import "strconv"

// encodeFast writes a version-1 event whose strings are plain (printable
// ASCII with nothing encoding/json escapes) byte for byte as json.Marshal
// does, without reflection: every PUT encodes one. ok is false for any
// other event, which takes json.Marshal; TestEncodeFastMatchesMarshal holds
// the two together.
func encodeFast(e *Event) (b []byte, ok bool) {
	if e.V != 1 || e.Version() != 1 || !plain(e.UserID) || !plain(string(e.Presence)) || !plain(e.Origin) || !plain(e.RequestID) ||
		(e.StatusMsg != nil && !plain(*e.StatusMsg)) {
		return nil, false
	}
	n := 64 + len(e.UserID) + len(e.Presence) + len(e.Origin) + len(e.RequestID)
	if e.StatusMsg != nil {
		n += len(*e.StatusMsg) + 16
	}
	b = make([]byte, 0, n)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(e.V), 10)
	b = appendField(b, "user_id", e.UserID)
	b = appendField(b, "presence", string(e.Presence))
	if e.StatusMsg != nil {
		b = appendField(b, "status_msg", *e.StatusMsg)
	}
	if e.Origin != "" {
		b = appendField(b, "origin", e.Origin)
	}
	if e.RequestID != "" {
		b = appendField(b, "request_id", e.RequestID)
	}
	return append(b, '}'), true
}

func appendField(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = append(b, value...)
	return append(b, '"')
}

// plain reports whether json.Marshal writes s as it is between quotes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
