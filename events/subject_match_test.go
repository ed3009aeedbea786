package events

import "testing"

// TestSubjectMatches: an event's subject must be its own user's.
func TestSubjectMatches(t *testing.T) {
	for _, id := range []string{"@a:b", "@alice:example.org", "@we/ird.user*>:example.org:8448"} {
		if !SubjectMatches("presence", Subject("presence", id), id) {
			t.Errorf("%s: its own subject does not match", id)
		}
		if SubjectMatches("presence", Subject("presence", id+"x"), id) {
			t.Errorf("%s: another user's subject matches", id)
		}
		if SubjectMatches("other", Subject("presence", id), id) {
			t.Errorf("%s: a subject under another prefix matches", id)
		}
	}
	if SubjectMatches("presence", "presence.", "@a:b") || SubjectMatches("presence", "presence", "@a:b") {
		t.Error("an empty token matches")
	}
}
