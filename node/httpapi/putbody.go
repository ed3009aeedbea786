package httpapi

import (
	"unicode/utf16"
	"unicode/utf8"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/apierr"
)

// putBody is a validated PUT /presence/{userId}/status body.
type putBody struct {
	Presence  events.Presence
	StatusMsg *string // nil: no message (absent or null)
}

// parsePutBody validates a PUT body. The rules, in order:
//   - it must be UTF-8 JSON (else M_NOT_JSON);
//   - it must be an object without duplicate keys (else M_BAD_JSON);
//   - "presence" is required (M_MISSING_PARAM), a string (M_BAD_JSON), and one
//     of online|unavailable|offline (M_INVALID_PARAM);
//   - "status_msg" is optional; null clears it like absence does; otherwise a
//     string (M_BAD_JSON) of at most maxStatus bytes without NUL characters
//     (M_INVALID_PARAM);
//   - other keys are ignored, as the specification does not forbid them.
//
// It reads the body once (a PUT is on the hot path), checking the JSON
// syntax as encoding/json does, and answers exactly what a parser built on
// encoding/json answers (FuzzParsePutBodyMatchesReference).
func parsePutBody(body []byte, maxStatus int) (putBody, error) {
	f, ok := scanPutBody(body)
	switch {
	case !ok:
		return putBody{}, apierr.Errorf(apierr.KindNotJSON, "Content not JSON.")
	case !f.object:
		return putBody{}, apierr.Errorf(apierr.KindBadJSON, "Content must be a JSON object.")
	case f.dup != nil:
		return putBody{}, apierr.Errorf(apierr.KindBadJSON, "Duplicate key %q in JSON object.", apierr.Truncate(jsonString(f.dup), 64))
	case f.presence == nil:
		return putBody{}, apierr.Errorf(apierr.KindMissingParam, "Missing required key: presence.")
	case f.presence[0] != '"':
		return putBody{}, apierr.Errorf(apierr.KindBadJSON, "presence must be a string.")
	}
	var out putBody
	out.Presence = presenceOf(f.presence)
	if !out.Presence.Valid() {
		return putBody{}, apierr.Errorf(apierr.KindInvalidParam, "Invalid presence state %q: want online, unavailable or offline.", apierr.Truncate(jsonString(f.presence), 32))
	}
	if m := f.statusMsg; m != nil && string(m) != "null" {
		if m[0] != '"' {
			return putBody{}, apierr.Errorf(apierr.KindBadJSON, "status_msg must be a string.")
		}
		s := jsonString(m)
		if len(s) > maxStatus {
			return putBody{}, apierr.Errorf(apierr.KindInvalidParam, "status_msg is longer than %d bytes.", maxStatus)
		}
		if containsNUL(s) {
			return putBody{}, apierr.Errorf(apierr.KindInvalidParam, "status_msg must not contain NUL characters.")
		}
		out.StatusMsg = &s
	}
	return out, nil
}

// presenceOf returns the presence a JSON string literal names, without
// allocating for the three valid ones.
func presenceOf(lit []byte) events.Presence {
	switch string(lit) {
	case `"online"`:
		return events.Online
	case `"unavailable"`:
		return events.Unavailable
	case `"offline"`:
		return events.Offline
	}
	return events.Presence(jsonString(lit))
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// putFields is what one pass over a PUT body finds: whether it is an
// object, its first duplicate key, and the raw values (JSON text) of
// "presence" and "status_msg" (nil when absent).
type putFields struct {
	object              bool
	dup                 []byte // the key literal, as sent
	presence, statusMsg []byte
}

// maxNestingDepth is encoding/json's bound on nested arrays and objects,
// beyond which it refuses a document as invalid.
const maxNestingDepth = 10000

// scanPutBody checks that body is one JSON value as encoding/json's
// json.Valid does, and valid UTF-8, and collects the top-level object's
// fields. ok is false when body is not valid JSON.
func scanPutBody(body []byte) (f putFields, ok bool) {
	s := jsonScanner{b: body}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return f, s.value() && s.end()
	}
	f.object = true
	s.depth = 1 // encoding/json counts the object itself
	s.i++
	s.space()
	if s.peek() == '}' {
		s.i++
		return f, s.end()
	}
	var keys [8][]byte // keys seen, as literals; more go to seen
	n := 0
	var seen map[string]bool
	for {
		ks := s.i
		if !s.str() {
			return f, false
		}
		key := s.b[ks:s.i]
		if f.dup == nil {
			switch {
			case n < len(keys):
				for _, k := range keys[:n] {
					if sameJSONString(k, key) {
						f.dup = key
					}
				}
				keys[n] = key
				n++
			default:
				if seen == nil {
					seen = make(map[string]bool, 2*len(keys))
					for _, k := range keys {
						seen[jsonString(k)] = true
					}
				}
				k := jsonString(key)
				if seen[k] {
					f.dup = key
				}
				seen[k] = true
			}
		}
		s.space()
		if s.peek() != ':' {
			return f, false
		}
		s.i++
		s.space()
		vs := s.i
		if !s.value() {
			return f, false
		}
		switch {
		case sameJSONString(key, []byte(`"presence"`)):
			f.presence = s.b[vs:s.i]
		case sameJSONString(key, []byte(`"status_msg"`)):
			f.statusMsg = s.b[vs:s.i]
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			return f, s.end()
		default:
			return f, false
		}
	}
}

// jsonScanner walks JSON text. Each method advances i past what it read and
// reports whether it was valid.
type jsonScanner struct {
	b     []byte
	i     int
	depth int
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (s *jsonScanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// value reads one JSON value.
func (s *jsonScanner) value() bool {
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '{' || c == '[':
		return s.container(c)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *jsonScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// container reads an object or an array, open being its first byte.
func (s *jsonScanner) container(open byte) bool {
	if s.depth++; s.depth > maxNestingDepth {
		return false
	}
	defer func() { s.depth-- }()
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	s.i++
	s.space()
	if s.peek() == closer {
		s.i++
		return true
	}
	for {
		if open == '{' {
			if !s.str() {
				return false
			}
			s.space()
			if s.peek() != ':' {
				return false
			}
			s.i++
			s.space()
		}
		if !s.value() {
			return false
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
			s.space()
		case closer:
			s.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string: escapes as JSON defines them, no control
// characters, valid UTF-8.
func (s *jsonScanner) str() bool {
	if s.peek() != '"' {
		return false
	}
	for i := s.i + 1; i < len(s.b); {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return true
		case c == '\\':
			if i+1 >= len(s.b) {
				return false
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(s.b[i+2:]) < 0 {
					return false
				}
				i += 6
			default:
				return false
			}
		case c < 0x20:
			return false
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(s.b[i:])
			if r == utf8.RuneError && size == 1 {
				return false
			}
			i += size
		}
	}
	return false
}

func (s *jsonScanner) number() bool {
	b, i := s.b, s.i
	digits := func() int {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.i = i
	return true
}

// hex4 is the value of four hex digits at the start of b, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// sameJSONString reports whether two valid string literals hold the same
// string; without escapes, that is comparing their bytes.
func sameJSONString(a, b []byte) bool {
	if string(a) == string(b) {
		return true
	}
	if !hasEscape(a) && !hasEscape(b) {
		return false
	}
	return jsonString(a) == jsonString(b)
}

func hasEscape(lit []byte) bool {
	for _, c := range lit {
		if c == '\\' {
			return true
		}
	}
	return false
}

// jsonString returns the string a valid string literal holds, decoded as
// encoding/json decodes it: a surrogate escape that is not half of a pair
// becomes U+FFFD.
func jsonString(lit []byte) string {
	lit = lit[1 : len(lit)-1]
	if !hasEscape(lit) {
		return string(lit)
	}
	out := make([]byte, 0, len(lit))
	for i := 0; i < len(lit); {
		c := lit[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch e := lit[i+1]; e {
		case 'u':
			r := hex4(lit[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+1 < len(lit) && lit[i] == '\\' && lit[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(lit[i+2:])); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			out = append(out, unescapeByte(e))
			i += 2
		}
	}
	return string(out)
}

// unescapeByte is the byte a one-character escape (\n, \", ...) stands for.
func unescapeByte(e byte) byte {
	switch e {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return e // '"', '\\', '/'
}
