package events

import "testing"

func BenchmarkSubjectMatches(b *testing.B) {
	id := "@user0000042:example.org"
	subject := Subject("presence", id)
	b.ReportAllocs()
	for b.Loop() {
		if !SubjectMatches("presence", subject, id) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkDecodeOwned(b *testing.B) {
	data, err := Encode(Event{V: 1, UserID: "@user0000042:example.org", Presence: Online, Origin: "presence-bench", RequestID: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeOwned(data); err != nil {
			b.Fatal(err)
		}
	}
}
