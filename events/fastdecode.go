package events

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
	j := i + 1
	// Eight bytes at a time while none is the closing quote or a byte a
	// plain string cannot hold, then byte by byte.
	for j+8 <= len(data) && !specialWord(load64(data[j:])) {
		j += 8
	}
	for ; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return data[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", 0, false // an escape, a control or a non-ASCII byte
		}
	}
	return "", 0, false
}

const ones, highs = 0x0101010101010101, 0x8080808080808080

// specialWord reports whether any byte of x is a quote, a backslash, a
// control byte (below 0x20) or not ASCII (0x80 and up). It is the classic
// "has a zero byte" and "has a byte below n" tests, which can only err
// towards true, and then the caller looks at each byte.
func specialWord(x uint64) bool {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return (x|(x-ones*0x20)|(q-ones)&^q|(b-ones)&^b)&highs != 0
}

// load64 reads the first eight bytes of s, little-endian.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
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
