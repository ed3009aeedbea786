package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
)

// presencePathUserID returns the user ID segment of the presence API's path,
// /_matrix/client/{v3,r0}/presence/{userId}/status, still percent-encoded.
// It reads the path as the client sent it (the request-target), so that a
// user ID holding "/" (%2F) stays one segment and is unescaped exactly once,
// by presenceRequest. It is hand-written rather than a mux path template
// because it runs on every request of the hot path, and a template costs
// two regular-expression matches and a re-escaping of the path; it
// allocates nothing.
func presencePathUserID(r *http.Request) (string, bool) {
	p := r.RequestURI
	if !strings.HasPrefix(p, "/") { // absolute-form, as a proxy might send
		p = r.URL.EscapedPath()
	} else if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	rest, ok := strings.CutPrefix(p, "/_matrix/client/")
	if !ok || len(rest) < 3 {
		return "", false
	}
	if v := rest[:3]; v != "v3/" && v != "r0/" {
		return "", false
	}
	rest, ok = strings.CutPrefix(rest[3:], "presence/")
	if !ok {
		return "", false
	}
	userID, ok := strings.CutSuffix(rest, "/status")
	if !ok || userID == "" || strings.IndexByte(userID, '/') >= 0 {
		return "", false
	}
	return userID, true
}

// presencePrefixLen is the length of "/_matrix/client/v3/presence/" (and of
// its r0 form), the literal start of every path presencePathUserID matches.
const presencePrefixLen = len("/_matrix/client/v3/presence/")

// unescapeUserID unescapes escaped, the user ID segment of r's presence
// path. net/http has unescaped the whole path into r.URL.Path already, so
// the segment is taken from there once it is checked, without allocating,
// to be exactly what escaped unescapes to; only a path that fails the check
// is unescaped again.
func unescapeUserID(r *http.Request, escaped string) (string, error) {
	if p := r.URL.Path; len(p) > presencePrefixLen+len("/status") {
		if id := p[presencePrefixLen : len(p)-len("/status")]; unescapesTo(escaped, id) {
			return id, nil
		}
	}
	return url.PathUnescape(escaped)
}

// unescapesTo reports whether the percent-encoded s is well formed and
// decodes to want.
func unescapesTo(s, want string) bool {
	j := 0
	for i := 0; i < len(s); j++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 3
		} else {
			i++
		}
		if j >= len(want) || want[j] != c {
			return false
		}
	}
	return j == len(want)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// matchPresencePath is the mux matcher of the presence path. The handlers
// read the user ID with presencePathUserID, not from mux's variables, so
// the matcher sets none.
func matchPresencePath(r *http.Request, _ *mux.RouteMatch) bool {
	_, ok := presencePathUserID(r)
	return ok
}

// presenceFastPath serves GET and PUT of the presence path without going
// through mux, which copies every request it routes (twice: for its
// variables and for its current route) and allocates the variables' map.
// Everything else, other methods on the presence path included (whose 405
// and Allow header mux computes, and whose OPTIONS the chain answers), goes
// to mux, which has the same routes and so answers exactly as it would
// have for GET and PUT too (TestFastPathMatchesMux).
type presenceFastPath struct {
	get, put http.Handler
	mux      *mux.Router
}

func (f *presenceFastPath) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodPut {
		if _, ok := presencePathUserID(r); ok {
			if r.Method == http.MethodGet {
				f.get.ServeHTTP(w, r)
			} else {
				f.put.ServeHTTP(w, r)
			}
			return
		}
	}
	f.mux.ServeHTTP(w, r)
}
