// Package auth decides who a request comes from and what they may do: it
// resolves access tokens (a static tokens file, or the homeserver's whoami),
// and holds the visibility policy and the own-server check. It speaks in
// apierr kinds, never in HTTP types: node/httpapi extracts the token from the
// request and turns the kinds into answers.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/presenced/presenced/node/apierr"
)

// The authentication providers of --auth.
const (
	// ProviderStatic accepts the tokens of a file (--tokens-file).
	ProviderStatic = "static"
	// ProviderHomeserver asks the homeserver who a token belongs to.
	ProviderHomeserver = "homeserver"
)

// Requester is who a token belongs to. DeviceID is empty when the provider
// does not know it (static tokens); the homeserver's whoami gives it.
type Requester struct {
	UserID   string
	DeviceID string
}

// Authenticator resolves an access token to its requester. It returns an
// *apierr.Error of KindUnknownToken for a token it does not accept, and
// KindUnavailable when it cannot tell right now.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Requester, error)
}

// Known is implemented by authenticators that can tell from memory, without
// asking anyone, that a token is valid: the request path then needs neither
// the client address nor the failure limiter.
type Known interface {
	Known(token string) (Requester, bool)
}

// Runner is implemented by authenticators with background work of their
// own (watching a tokens file). Run works until ctx ends; reload receives
// when the operator asks for a reload (SIGHUP). The node runs it for as long
// as it runs.
type Runner interface {
	Run(ctx context.Context, reload <-chan os.Signal)
}

// New builds the provider cfg.Provider names. cfg is assumed valid
// (Config.Validate).
func New(cfg Config, log *slog.Logger) (Authenticator, error) {
	if cfg.Provider == ProviderHomeserver {
		return NewHomeserverAuth(HomeserverAuthConfig{
			URL:              cfg.HomeserverURL,
			CacheTTL:         cfg.CacheTTL,
			NegativeCacheTTL: cfg.NegativeCacheTTL,
			CacheSize:        cfg.CacheSize,
			Timeout:          cfg.Timeout,
			Logger:           log,
		})
	}
	if cfg.TokensFile == "" {
		return nil, errors.New("no authenticator: set --tokens-file (or --auth homeserver)")
	}
	s, err := LoadStaticTokens(cfg.TokensFile)
	if err != nil {
		return nil, err
	}
	s.reloadEvery, s.log = cfg.TokensReloadInterval, log
	return s, nil
}

func errUnknownToken() *apierr.Error {
	return apierr.Errorf(apierr.KindUnknownToken, "Unrecognised access token")
}
