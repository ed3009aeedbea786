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
