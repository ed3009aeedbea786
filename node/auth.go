package node

import (
	"context"
	"net/http"
	"strings"
)

// Authenticator resolves an access token to the user it belongs to. It
// returns an *Error of KindUnknownToken for a token it does not accept, and
// KindUnavailable when it cannot tell right now.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (userID string, err error)
}

// accessToken extracts the access token from the Authorization header
// ("Bearer <token>") or, as the Matrix specification still allows, from the
// access_token query parameter.
func accessToken(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimSpace(tok)
			return tok, tok != ""
		}
		return "", false
	}
	if tok := r.URL.Query().Get("access_token"); tok != "" {
		return tok, true
	}
	return "", false
}

// authenticate returns the user the request's token belongs to.
func authenticate(r *http.Request, a Authenticator) (string, error) {
	tok, ok := accessToken(r)
	if !ok {
		return "", Errorf(KindMissingToken, "Missing access token")
	}
	return a.Authenticate(r.Context(), tok)
}
