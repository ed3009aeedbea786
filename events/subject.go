package events

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unsafe"
)

// DefaultSubjectPrefix is the subject prefix of presence events.
const DefaultSubjectPrefix = "presence"

// Matrix user IDs may hold '.', '*', '>' and other bytes that NATS subjects
// give meaning to, so the ID is carried in one token as unpadded base64url,
// whose alphabet is safe in a subject token.
var tokenEncoding = base64.RawURLEncoding

// Subject returns the subject of userID's events: prefix + "." + token. With
// MaxMsgsPerSubject the stream keeps the latest event(s) per user.
func Subject(prefix, userID string) string {
	return prefix + "." + SubjectToken(userID)
}

// SubjectToken encodes userID as a single subject token.
func SubjectToken(userID string) string {
	return tokenEncoding.EncodeToString([]byte(userID))
}

// UserFromSubject decodes the user ID from a subject made by Subject.
func UserFromSubject(prefix, subject string) (string, error) {
	tok, ok := strings.CutPrefix(subject, prefix+".")
	if !ok || tok == "" || strings.Contains(tok, ".") {
		return "", fmt.Errorf("events: subject %q is not under %q", subject, prefix)
	}
	b, err := tokenEncoding.DecodeString(tok)
	if err != nil {
		return "", fmt.Errorf("events: subject token %q: %w", tok, err)
	}
	return string(b), nil
}

// SubjectFilter returns the subject filter that matches every user's events.
func SubjectFilter(prefix string) string { return prefix + ".>" }

// SubjectMatches reports whether subject is the subject of userID's events
// under prefix. Readers use it to refuse an event published on another
// user's subject, which would otherwise change the wrong user's state.
//
// Every message of a replay goes through it, so it allocates nothing: the
// ID is encoded into a buffer on the stack, the prefix compared in place.
func SubjectMatches(prefix, subject, userID string) bool {
	if len(subject) <= len(prefix) || subject[len(prefix)] != '.' || subject[:len(prefix)] != prefix {
		return false
	}
	tok := subject[len(prefix)+1:]
	if len(tok) != tokenEncoding.EncodedLen(len(userID)) {
		return false
	}
	if len(userID) > MaxUserIDLength {
		return false
	}
	var buf [(MaxUserIDLength*4 + 2) / 3]byte // base64 of the longest user ID
	// Encode only reads its source, so the ID's bytes are read in place.
	tokenEncoding.Encode(buf[:len(tok)], unsafe.Slice(unsafe.StringData(userID), len(userID)))
	return string(buf[:len(tok)]) == tok
}
