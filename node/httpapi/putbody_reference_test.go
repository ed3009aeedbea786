package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/apierr"
)

// parsePutBodyReference is the PUT body parser written on encoding/json
// (json.Valid, a json.Decoder over the tokens, json.Unmarshal of each
// field): slow, as it reads the body three times, but plainly right.
// FuzzParsePutBodyMatchesReference holds parsePutBody to its answers,
// errors included.
func parsePutBodyReference(body []byte, maxStatus int) (putBody, error) {
	if !utf8.Valid(body) || !json.Valid(body) {
		return putBody{}, apierr.Errorf(apierr.KindNotJSON, "Content not JSON.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return putBody{}, apierr.Errorf(apierr.KindNotJSON, "Content not JSON.")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return putBody{}, apierr.Errorf(apierr.KindBadJSON, "Content must be a JSON object.")
	}
	seen := make(map[string]bool, 2)
	var presenceRaw, statusRaw json.RawMessage
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return putBody{}, apierr.Errorf(apierr.KindNotJSON, "Content not JSON.")
		}
		key, _ := keyTok.(string)
		if seen[key] {
			return putBody{}, apierr.Errorf(apierr.KindBadJSON, "Duplicate key %q in JSON object.", apierr.Truncate(key, 64))
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return putBody{}, apierr.Errorf(apierr.KindNotJSON, "Content not JSON.")
		}
		switch key {
		case "presence":
			presenceRaw = v
		case "status_msg":
			statusRaw = v
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return putBody{}, apierr.Errorf(apierr.KindNotJSON, "Content not JSON.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return putBody{}, apierr.Errorf(apierr.KindNotJSON, "Content not JSON.")
	}

	var out putBody
	if presenceRaw == nil {
		return putBody{}, apierr.Errorf(apierr.KindMissingParam, "Missing required key: presence.")
	}
	var p string
	if err := json.Unmarshal(presenceRaw, &p); err != nil || bytes.Equal(presenceRaw, []byte("null")) {
		return putBody{}, apierr.Errorf(apierr.KindBadJSON, "presence must be a string.")
	}
	out.Presence = events.Presence(p)
	if !out.Presence.Valid() {
		return putBody{}, apierr.Errorf(apierr.KindInvalidParam, "Invalid presence state %q: want online, unavailable or offline.", apierr.Truncate(p, 32))
	}
	if statusRaw != nil && !bytes.Equal(statusRaw, []byte("null")) {
		var s string
		if err := json.Unmarshal(statusRaw, &s); err != nil {
			return putBody{}, apierr.Errorf(apierr.KindBadJSON, "status_msg must be a string.")
		}
		if len(s) > maxStatus {
			return putBody{}, apierr.Errorf(apierr.KindInvalidParam, "status_msg is longer than %d bytes.", maxStatus)
		}
		if strings.ContainsRune(s, 0) {
			return putBody{}, apierr.Errorf(apierr.KindInvalidParam, "status_msg must not contain NUL characters.")
		}
		out.StatusMsg = &s
	}
	return out, nil
}
