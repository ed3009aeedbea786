package events

import (
	"strings"
	"testing"
	"unicode"
)

func TestSubject(t *testing.T) {
	if got := Subject("presence", "@alice:example.org"); got != "presence.QGFsaWNlOmV4YW1wbGUub3Jn" {
		t.Fatalf("Subject: %s", got)
	}
	if got := SubjectFilter("presence"); got != "presence.>" {
		t.Fatalf("SubjectFilter: %s", got)
	}
	// IDs holding the characters NATS gives meaning to get one plain token.
	for _, id := range []string{"@a.b:example.org", "@a*b:example.org", "@a>b:example.org", "@a/b:example.org", "@~!$%^&()=+{}|;'\"<>,?:example.org"} {
		sub := Subject("fleet.presence", id)
		tok := strings.TrimPrefix(sub, "fleet.presence.")
		if strings.ContainsAny(tok, ".*> \t") {
			t.Errorf("%s: token %q holds a subject metacharacter", id, tok)
		}
		back, err := UserFromSubject("fleet.presence", sub)
		if err != nil || back != id {
			t.Errorf("UserFromSubject(%s) = %q, %v; want %q", sub, back, err, id)
		}
	}
}

func TestUserFromSubjectRefuses(t *testing.T) {
	for _, sub := range []string{
		"presence",
		"presence.",
		"other.QGFsaWNlOmV4YW1wbGUub3Jn",
		"presence.QGFsaWNl.OmV4YW1wbGUub3Jn",
		"presence.QGFsaWNlOmV4YW1wbGUub3Jn=",
		"presence.!!!",
		"presencex.QGFsaWNlOmV4YW1wbGUub3Jn",
	} {
		if id, err := UserFromSubject("presence", sub); err == nil {
			t.Errorf("UserFromSubject(%q) = %q, want an error", sub, id)
		}
	}
}

// FuzzSubjectRoundTrip: every valid user ID round-trips through Subject and
// UserFromSubject, and its token is one non-empty subject token without
// metacharacters or whitespace.
func FuzzSubjectRoundTrip(f *testing.F) {
	for _, id := range []string{
		"@alice:example.org", "@we/ird.user:example.org", "@a:b", "@a.b*c>d:[::1]:8448",
		"@" + strings.Repeat("x", 240) + ":example.org", "@_:1.2.3.4:80", "@=\"'\\:x",
	} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidateUserID(id) != nil {
			return
		}
		tok := SubjectToken(id)
		if tok == "" {
			t.Fatalf("%q: empty token", id)
		}
		for _, r := range tok {
			if r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || r > unicode.MaxASCII || !unicode.IsPrint(r) {
				t.Fatalf("%q: token %q holds %q", id, tok, r)
			}
		}
		sub := Subject(DefaultSubjectPrefix, id)
		if sub != DefaultSubjectPrefix+"."+tok {
			t.Fatalf("Subject(%q) = %q, token %q", id, sub, tok)
		}
		back, err := UserFromSubject(DefaultSubjectPrefix, sub)
		if err != nil || back != id {
			t.Fatalf("UserFromSubject(%q) = %q, %v; want %q", sub, back, err, id)
		}
	})
}
