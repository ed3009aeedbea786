package httpapi

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// matchPresencePath is the mux matcher of the presence API's path,
// /_matrix/client/{v3,r0}/presence/{userId}/status. It matches the path as
// the client sent it (the request-target), so that a user ID holding "/"
// (%2F) stays one segment and is unescaped exactly once, by presenceRequest. It
// is hand-written rather than a mux path template because it runs on every
// request of the hot path, and a template costs two regular-expression
// matches and a re-escaping of the path.
func matchPresencePath(r *http.Request, m *mux.RouteMatch) bool {
	p := r.RequestURI
	if !strings.HasPrefix(p, "/") { // absolute-form, as a proxy might send
		p = r.URL.EscapedPath()
	} else if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	rest, ok := strings.CutPrefix(p, "/_matrix/client/")
	if !ok || len(rest) < 3 {
		return false
	}
	if v := rest[:3]; v != "v3/" && v != "r0/" {
		return false
	}
	rest, ok = strings.CutPrefix(rest[3:], "presence/")
	if !ok {
		return false
	}
	userID, ok := strings.CutSuffix(rest, "/status")
	if !ok || userID == "" || strings.IndexByte(userID, '/') >= 0 {
		return false
	}
	if m.Vars == nil {
		m.Vars = make(map[string]string, 1)
	}
	m.Vars["userId"] = userID
	return true
}
