package httpapi

import (
	"net/http"
	"strings"

	"github.com/presenced/presenced/node/apierr"
)

// maxTokenBytes bounds the tokens passed on to the authenticator: no
// homeserver issues longer ones, and a provider need not hash or forward
// megabytes.
const maxTokenBytes = 4096

// accessToken extracts the access token from the Authorization header
// ("Bearer <token>") or, as the Matrix specification still allows, from the
// access_token query parameter.
func accessToken(r *http.Request) (string, bool) {
	// Indexed with the canonical key (net/http canonicalises what it
	// reads), saving Get's canonicalisation on every request.
	if h := r.Header["Authorization"]; len(h) > 0 && h[0] != "" {
		return bearer(h[0])
	}
	if tok := r.URL.Query().Get("access_token"); tok != "" {
		return tok, true
	}
	return "", false
}

// bearer is the token of an "Authorization: Bearer <token>" header value.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// requester authenticates r, once, under the per-address limit on failures:
// a client address that has used up its budget of failed authentications is
// refused with 429 unless its token is known good without a look-up (a
// static token, or one the homeserver cache holds). Guessing tokens, or
// making the homeserver check random ones, thus costs time, while users
// behind the same address with valid tokens keep being served.
func (a *API) requester(r *http.Request) (Requester, error) {
	tok, ok := accessToken(r)
	// A token known good from memory is the common case and the hot path:
	// it needs neither the client address nor the failure limiter.
	if ok && len(tok) <= maxTokenBytes {
		if who, known := a.d.Auth.Known(tok); known {
			return who, nil
		}
	}
	ip := clientAddr(r, a.cfg.RealIPHeader)
	if wait := a.authFailures.blocked(ip); wait > 0 {
		a.d.Metrics.Rejected.WithLabelValues("auth_failures").Inc()
		return Requester{}, apierr.LimitExceeded("Too many failed authentication attempts.", wait)
	}
	var who Requester
	var err error
	switch {
	case !ok:
		err = apierr.Errorf(apierr.KindMissingToken, "Missing access token")
	case len(tok) > maxTokenBytes:
		err = apierr.Errorf(apierr.KindUnknownToken, "Unrecognised access token")
	default:
		who, err = a.d.Auth.Authenticate(r.Context(), tok)
	}
	if k, _ := apierr.KindOf(err); err != nil && (k == apierr.KindMissingToken || k == apierr.KindUnknownToken) {
		a.authFailures.take(ip)
	}
	return who, err
}
