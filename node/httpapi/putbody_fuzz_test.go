package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// FuzzParsePutBodyMatchesReference: the one-pass parser answers every body
// as the parser built on encoding/json does: the same body, or an error of
// the same kind with the same message.
func FuzzParsePutBodyMatchesReference(f *testing.F) {
	for _, s := range []string{
		`{"presence":"online"}`, `{"presence":"online","status_msg":"lunch"}`,
		`{"presence": "online" , "status_msg" : null }`, "\t{\n\"presence\":\r\"offline\"}\n",
		`{"presence":"online","presence":"offline"}`, `{"a":1,"b":2,"a":3}`,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"a":10}`,
		`{"\u0070resence":"online","presence":"x"}`, `{"presence":"\u006fnline"}`,
		`{"presence":"online","status_msg":"\ud83d\ude00 \ud800 \udc00x \ud800\u0041"}`,
		`{"presence":"online","status_msg":"\u0000"}`, `{"presence":"online","status_msg":"a\/b\"\\\b\f\n\r\t"}`,
		`{"presence":null}`, `{"presence":true}`, `{"presence":["online"]}`, `{"presence":{"a":"online"}}`,
		`{"presence":"online","status_msg":-0.5e+3}`, `{"presence":"online","x":[1,-0,0.1,1E5,true,false,null,{"y":[]}]}`,
		`{"presence":"online","x":01}`, `{"presence":"online","x":1.}`, `{"presence":"online","x":-}`, `{"presence":"online","x":.5}`,
		`{"presence":"online",}`, `{,}`, `{"a"}`, `{"a":}`, `[1,]`, `[1 2]`, `{"a":1}x`, `{} {}`, ``, `   `, `nul`, `"\x"`, `"\u12"`,
		"{\"presence\":\"online\",\"status_msg\":\"\x01\"}", "{\"presence\":\"on\xc3\"}", "{\"\xed\xa0\x80\":1}",
		`{"presence":"` + strings.Repeat("x", 100) + `"}`,
	} {
		f.Add([]byte(s))
	}
	// encoding/json's nesting bound, around its edge: seeds too big for the
	// fuzzer to mutate fast, so checked once here.
	for _, s := range []string{
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		`{"presence":"online","a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
		`{"presence":"online","a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	} {
		_, gotErr := parsePutBody([]byte(s), 64)
		_, wantErr := parsePutBodyReference([]byte(s), 64)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			f.Fatalf("nesting of %d bytes: error %v, reference %v", len(s), gotErr, wantErr)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		const maxStatus = 64
		got, gotErr := parsePutBody(body, maxStatus)
		want, wantErr := parsePutBodyReference(body, maxStatus)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("parsePutBody(%q): error %v, reference %v", body, gotErr, wantErr)
		}
		if gotErr != nil {
			var g, w *apierr.Error
			if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) || g.Kind != w.Kind || g.Message != w.Message {
				t.Fatalf("parsePutBody(%q): error %#v, reference %#v", body, gotErr, wantErr)
			}
			return
		}
		if got.Presence != want.Presence || (got.StatusMsg == nil) != (want.StatusMsg == nil) || (got.StatusMsg != nil && *got.StatusMsg != *want.StatusMsg) {
			t.Fatalf("parsePutBody(%q) = %+v, reference %+v", body, got, want)
		}
	})
}
