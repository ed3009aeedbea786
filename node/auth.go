package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// The authentication providers of --auth.
const (
	// AuthStatic accepts the tokens of a file (--tokens-file).
	AuthStatic = "static"
	// AuthHomeserver asks the homeserver who a token belongs to.
	AuthHomeserver = "homeserver"
)

// Authenticator resolves an access token to the user it belongs to. It
// returns an *Error of KindUnknownToken for a token it does not accept, and
// KindUnavailable when it cannot tell right now.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (userID string, err error)
}

// NewAuthenticator builds the provider cfg.Auth names.
func NewAuthenticator(cfg *Config, log *slog.Logger) (Authenticator, error) {
	switch cfg.Auth {
	case AuthStatic, "":
		if cfg.TokensFile == "" {
			return nil, errors.New("no authenticator: set --tokens-file (or --auth homeserver)")
		}
		return LoadStaticTokens(cfg.TokensFile)
	case AuthHomeserver:
		return NewHomeserverAuth(HomeserverAuthConfig{
			URL:              cfg.HomeserverURL,
			CacheTTL:         cfg.AuthCacheTTL,
			NegativeCacheTTL: cfg.AuthNegativeCacheTTL,
			CacheSize:        cfg.AuthCacheSize,
			Timeout:          cfg.AuthTimeout,
			Logger:           log,
		})
	}
	return nil, fmt.Errorf("--auth %q: want %s or %s", cfg.Auth, AuthStatic, AuthHomeserver)
}

// maxTokenBytes bounds the tokens passed on to a provider: no homeserver
// issues longer ones, and a provider need not hash or forward megabytes.
const maxTokenBytes = 4096

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
	if len(tok) > maxTokenBytes {
		return "", Errorf(KindUnknownToken, "Unrecognised access token")
	}
	return a.Authenticate(r.Context(), tok)
}

// knownTokens is implemented by providers that can tell, from memory and
// without asking anyone, that a token is valid.
type knownTokens interface {
	known(token string) (userID string, ok bool)
}

// authenticate authenticates r under the per-address limit on failures: a
// client address that has used up its budget of failed authentications is
// refused with 429 unless its token is known good without a look-up (a
// static token, or one the homeserver cache holds). Guessing tokens, or
// making the homeserver check random ones, thus costs time, while users
// behind the same address with valid tokens keep being served.
func (n *Node) authenticate(r *http.Request) (string, error) {
	// A token known good from memory is the common case and the hot path:
	// it needs neither the client address nor the failure limiter.
	if tok, ok := accessToken(r); ok && len(tok) <= maxTokenBytes {
		if k, ok := n.auth.(knownTokens); ok {
			if user, ok := k.known(tok); ok {
				return user, nil
			}
		}
	}
	ip := n.clientAddr(r)
	if wait := n.authFailures.blocked(ip); wait > 0 {
		n.rejected.WithLabelValues("auth_failures").Inc()
		return "", limitExceeded("Too many failed authentication attempts.", wait)
	}
	user, err := authenticate(r, n.auth)
	var e *Error
	if errors.As(err, &e) && (e.Kind == KindMissingToken || e.Kind == KindUnknownToken) {
		n.authFailures.take(ip)
	}
	return user, err
}
