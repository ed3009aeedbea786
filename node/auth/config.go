package auth

import (
	"fmt"
	"net/url"
	"time"
)

// Config is how tokens are checked and who may read whose presence.
type Config struct {
	// Provider selects how access tokens are checked: ProviderStatic
	// (TokensFile) or ProviderHomeserver (the homeserver's whoami at
	// HomeserverURL).
	Provider string
	// TokensFile is a YAML map of access token to user ID.
	TokensFile string
	// TokensReloadInterval is how often the tokens file is checked for
	// changes (0: only on SIGHUP).
	TokensReloadInterval time.Duration
	HomeserverURL        string
	// CacheTTL is how long a token the homeserver accepted is trusted
	// without asking again; NegativeCacheTTL the same for a refused one.
	// CacheSize bounds each of the two caches; Timeout bounds one call to
	// the homeserver.
	CacheTTL         time.Duration
	NegativeCacheTTL time.Duration
	CacheSize        int
	Timeout          time.Duration
	// Visibility is who may read whose presence: VisibilityAuthenticated,
	// VisibilitySameServer or VisibilitySelf.
	Visibility string
	// InternalSecretFile holds the shared secret of the internal (fleet)
	// API, required when it is served.
	InternalSecretFile string
}

// DefaultConfig returns the defaults of the authentication settings.
func DefaultConfig() Config {
	return Config{
		Provider:             ProviderStatic,
		TokensReloadInterval: 5 * time.Second,
		CacheTTL:             60 * time.Second,
		NegativeCacheTTL:     5 * time.Second,
		CacheSize:            100_000,
		Timeout:              5 * time.Second,
		Visibility:           VisibilityAuthenticated,
	}
}

// Validate reports the settings that cannot work, naming them as the
// command line does. It is the only check of these settings.
func (c *Config) Validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Provider {
	case ProviderStatic, "":
	case ProviderHomeserver:
		if err := checkHomeserverURL(c.HomeserverURL); err != nil {
			errs = append(errs, err)
		}
		if c.CacheTTL < 0 || c.NegativeCacheTTL < 0 {
			bad("--auth-cache-ttl and --auth-negative-cache-ttl must not be negative")
		}
		if c.CacheSize < 1 {
			bad("--auth-cache-size %d: want at least 1", c.CacheSize)
		}
		if c.Timeout <= 0 {
			bad("--auth-timeout must be positive")
		}
	default:
		bad("--auth %q: want %s or %s", c.Provider, ProviderStatic, ProviderHomeserver)
	}
	if c.TokensReloadInterval < 0 {
		bad("--tokens-reload-interval must not be negative")
	}
	if c.Visibility != "" && !validVisibility(c.Visibility) {
		bad("--visibility %q: want %s, %s or %s", c.Visibility, VisibilityAuthenticated, VisibilitySameServer, VisibilitySelf)
	}
	return errs
}

// checkHomeserverURL is the one check of --homeserver-url: an http or https
// URL with a host.
func checkHomeserverURL(raw string) error {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--homeserver-url %q: want the homeserver's client API base URL, such as https://matrix.example.org", raw)
	}
	return nil
}
