package httpapi

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"testing"
)

// TestUnescapeUserIDMatchesPathUnescape: the user ID read back from the
// request's unescaped path is always what url.PathUnescape makes of the
// escaped segment, whether net/http's path agrees with the segment or was
// changed since (then the segment is unescaped again).
func TestUnescapeUserIDMatchesPathUnescape(t *testing.T) {
	segments := []string{
		"@alice:example.org", "%40alice%3Aexample.org", "%40alice%3aexample.org",
		"@we%2Fird:example.org", "@we%2fird:example.org", "@100%25:example.org",
		"@a+b:example.org", "@%C3%A9:example.org", "%", "%4", "%zz", "@a%:b",
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	const alphabet = "%2Ff0aA9@:+/ xé"
	for range 3000 {
		b := make([]byte, rnd.IntN(10))
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		segments = append(segments, string(b))
	}
	for _, seg := range segments {
		want, wantErr := url.PathUnescape(seg)
		for _, path := range []string{"", want, want + "x", "x" + want, seg} {
			r := &http.Request{URL: &url.URL{Path: "/_matrix/client/v3/presence/" + path + "/status"}}
			got, err := unescapeUserID(r, seg)
			if (err != nil) != (wantErr != nil) || (err == nil && got != want) {
				t.Fatalf("segment %q, path %q: got %q, %v; want %q, %v", seg, path, got, err, want, wantErr)
			}
		}
	}
}

// FuzzUnescapesTo holds the allocation-free check to url.PathUnescape.
func FuzzUnescapesTo(f *testing.F) {
	f.Add("%40alice%3Aexample.org", "@alice:example.org")
	f.Add("%4", "")
	f.Add("a%2fb", "a/b")
	f.Fuzz(func(t *testing.T, s, want string) {
		u, err := url.PathUnescape(s)
		if got, exp := unescapesTo(s, want), err == nil && u == want; got != exp {
			t.Fatalf("unescapesTo(%q, %q) = %v, PathUnescape gives %q, %v", s, want, got, u, err)
		}
		if err == nil && !unescapesTo(s, u) {
			t.Fatalf("unescapesTo(%q, %q) = false, want true", s, u)
		}
	})
}
