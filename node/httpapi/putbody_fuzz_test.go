package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/apierr"
)

// putBodyErrorKinds are the only errors a PUT body can earn.
var putBodyErrorKinds = map[apierr.Kind]bool{apierr.KindNotJSON: true, apierr.KindBadJSON: true, apierr.KindMissingParam: true, apierr.KindInvalidParam: true}

// FuzzParsePutBody: the PUT body parser never panics; it either returns one
// of the client-error kinds or a body with a valid presence whose status
// message is within the cap, valid UTF-8 and NUL-free, and which makes a
// valid event. What it accepts is a JSON object whose "presence" is a
// string (so the encoding/json view of the body agrees with it).
func FuzzParsePutBody(f *testing.F) {
	const maxStatus = 64
	for _, s := range []string{
		`{"presence":"online"}`,
		`{"presence":"unavailable","status_msg":"lunch"}`,
		`{"presence":"offline","status_msg":null}`,
		`{"presence":"online","status_msg":""}`,
		`{"presence":"online","extra":[1,{"a":null}],"last_active_ago":5}`,
		`{"presence":"online","presence":"offline"}`,
		`{"status_msg":"x"}`, `{}`, `[]`, `null`, `"online"`, ``, ` `, `{`, `}`,
		`{"presence":5}`, `{"presence":"busy"}`, `{"presence":"Online"}`,
		`{"presence":"online","status_msg":5}`,
		`{"presence":"online","status_msg":"a\u0000b"}`,
		`{"presence":"online","status_msg":"` + strings.Repeat("é", 40) + `"}`,
		`{"presence":"online"} {}`, "{\"presence\":\"online\",\"status_msg\":\"\xff\"}",
		`{"presence":"online","status_msg":"\ud800"}`, `{"\u0070resence":"online"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pb, err := parsePutBody(body, maxStatus)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || !putBodyErrorKinds[e.Kind] {
				t.Fatalf("parsePutBody(%q): unexpected error %#v", body, err)
			}
			if e.Message == "" || !utf8.ValidString(e.Message) {
				t.Fatalf("parsePutBody(%q): error message %q", body, e.Message)
			}
			return
		}
		if !pb.Presence.Valid() {
			t.Fatalf("parsePutBody(%q) accepted presence %q", body, pb.Presence)
		}
		if m := pb.StatusMsg; m != nil && (len(*m) > maxStatus || !utf8.ValidString(*m) || strings.ContainsRune(*m, 0)) {
			t.Fatalf("parsePutBody(%q) accepted status_msg %q", body, *m)
		}
		var generic map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&generic); err != nil || generic["presence"] != string(pb.Presence) {
			t.Fatalf("parsePutBody(%q) accepted what encoding/json reads as %v (%v)", body, generic, err)
		}
		if m := pb.StatusMsg; m != nil && generic["status_msg"] != *m {
			t.Fatalf("parsePutBody(%q): status_msg %q, encoding/json reads %v", body, *m, generic["status_msg"])
		}
		if _, err := events.Encode(events.Event{UserID: "@a:example.org", Presence: pb.Presence, StatusMsg: pb.StatusMsg}); err != nil {
			t.Fatalf("parsePutBody(%q) accepted a body that makes an invalid event: %v", body, err)
		}
	})
}
