package httpapi

import (
	"net/http"
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
