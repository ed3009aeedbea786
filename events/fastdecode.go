package events

import "strings"

// decodeFast parses the common shape of an event — one flat JSON object whose
// values are plain ASCII strings without escapes, small non-negative integers
// or null — without reflection. A replay decodes one event per user, and this
// makes it several times faster than encoding/json. Anything else (escapes,
// non-ASCII text, nested values, duplicate keys, odd whitespace) returns
// ok=false, and the caller falls back to encoding/json, which defines the
// codec's behaviour; FuzzDecodeFast checks that the two agree.
//
// text holds the same bytes as data, as a string: every string field is a
// slice of it, so a reader that keeps a field beyond the event's life (a
// status message, say) should clone it rather than pin the whole message.
func decodeFast(data []byte, text string) (e Event, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return Event{}, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
		return e, skipSpace(data, i) == len(data)
	}
	var seen uint8
	for {
		key, next, ok := plainString(text, i)
		if !ok {
			return Event{}, false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return Event{}, false
		}
		i = skipSpace(data, i+1)
		if i >= len(data) {
			return Event{}, false
		}
		var bit uint8
		switch key {
		case "v":
			bit = 1
			n, next, ok := smallInt(data, i)
			if !ok {
				return Event{}, false
			}
			e.V, i = n, next
		case "status_msg":
			bit = 8
			if hasPrefix(data[i:], "null") {
				i += 4
				break
			}
			s, next, ok := plainString(text, i)
			if !ok {
				return Event{}, false
			}
			e.StatusMsg, i = &s, next
		case "user_id", "presence", "origin", "request_id":
			s, next, ok := plainString(text, i)
			if !ok {
				return Event{}, false
			}
			i = next
			switch key {
			case "user_id":
				bit, e.UserID = 2, s
			case "presence":
				bit, e.Presence = 4, Presence(s)
				if p := Presence(s); p.Valid() {
					e.Presence = p.canonical()
				}
			case "origin":
				bit, e.Origin = 16, s
			case "request_id":
				bit, e.RequestID = 32, s
			}
		default:
			return Event{}, false // unknown keys take the general path
		}
		if seen&bit != 0 {
			return Event{}, false
		}
		seen |= bit
		i = skipSpace(data, i)
		if i >= len(data) {
			return Event{}, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return e, skipSpace(data, i+1) == len(data)
		default:
			return Event{}, false
		}
	}
}

// plainString reads a JSON string at data[i] made only of printable ASCII
// without escapes, and returns it (a slice of data) and the index after its
// closing quote.
func plainString(data string, i int) (string, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return "", 0, false
	}
	n := strings.IndexByte(data[i+1:], '"')
	if n < 0 || !plainText(data[i+1:i+1+n]) {
		return "", 0, false // no end, or an escape, a control or non-ASCII byte
	}
	return data[i+1 : i+1+n], i + 2 + n, true
}

// plainText reports whether s holds only printable ASCII (0x20-0x7f) and no
// backslash, eight bytes at a time.
func plainText(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(s) >= 8 {
		x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		bs := x ^ (ones * '\\')
		// A high bit set: a byte >= 0x80; below 0x20: a control byte; a
		// zero byte of x^'\\': a backslash (the classic "has a byte less
		// than n" tests, exact when no byte has its high bit set).
		if (x|(x-ones*0x20)|(bs-ones)&^bs)&highs != 0 {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}

// smallInt reads a non-negative integer of at most 6 digits without a
// leading zero (other than "0" itself).
func smallInt(data []byte, i int) (int, int, bool) {
	n, j := 0, i
	for j < len(data) && j-i < 7 && data[j] >= '0' && data[j] <= '9' {
		n = n*10 + int(data[j]-'0')
		j++
	}
	if j == i || j-i > 6 || (data[i] == '0' && j-i > 1) {
		return 0, 0, false
	}
	if j < len(data) && (data[j] == '.' || data[j] == 'e' || data[j] == 'E' || (data[j] >= '0' && data[j] <= '9')) {
		return 0, 0, false
	}
	return n, j, true
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r') {
		i++
	}
	return i
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }
