package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/httpapi"
	"github.com/presenced/presenced/node/store"
	"github.com/presenced/presenced/projection"
)

// Config is everything a node needs to run, split by the package that uses
// it. cmd/presenced fills it from flags, environment and a config file;
// tests fill it directly.
type Config struct {
	// ServerName is the homeserver's domain: users of this domain are ours.
	ServerName string
	// NodeName names this node in events it publishes and in logs.
	NodeName string

	// IdleTimeout and OfflineTimeout decay presence at read time; 0 disables.
	IdleTimeout    time.Duration
	OfflineTimeout time.Duration
	// SyncTimeout is how long after its last sync a device counts as
	// syncing; FederationTimeout how long a remote user's received state
	// lasts without an update.
	SyncTimeout       time.Duration
	FederationTimeout time.Duration

	// ShutdownTimeout bounds how long in-flight requests may finish.
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long a stopping node keeps serving while it
	// reports not ready, so that load balancers stop sending it requests
	// before it closes its listener.
	ShutdownDelay time.Duration

	// Store is where events are stored and how they are followed.
	Store store.Config
	// Auth is how tokens are checked and who may read whose presence.
	Auth auth.Config
	// HTTP is how the client API listens and limits its clients.
	HTTP httpapi.Config
}

// DefaultConfig returns the defaults of every setting.
func DefaultConfig() Config {
	return Config{
		ServerName:        "localhost",
		IdleTimeout:       5 * time.Minute,
		OfflineTimeout:    30 * time.Minute,
		SyncTimeout:       projection.DefaultSyncTimeout,
		FederationTimeout: projection.DefaultFederationTimeout,
		ShutdownTimeout:   10 * time.Second,
		Store:             store.DefaultConfig(),
		Auth:              auth.DefaultConfig(),
		HTTP:              httpapi.DefaultConfig(),
	}
}

// Validate reports the settings that cannot work, naming them as the command
// line does. Each part checks its own settings, once; what spans parts is
// checked here.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := events.ValidateServerName(c.ServerName); err != nil {
		bad("--server-name %q: %v", c.ServerName, err)
	}
	if c.IdleTimeout < 0 || c.OfflineTimeout < 0 {
		bad("--idle-timeout and --offline-timeout must not be negative")
	}
	if c.SyncTimeout < 3*time.Millisecond || c.FederationTimeout <= 0 {
		bad("--sync-timeout and --federation-timeout must be positive")
	}
	if c.HTTP.InternalListen != "" && c.Auth.InternalSecretFile == "" {
		bad("--internal-listen needs --internal-secret-file: the internal API can set anyone's presence")
	}
	if c.ShutdownDelay < 0 {
		bad("--shutdown-delay must not be negative")
	}
	if c.Store.PublishTimeout <= 0 || c.HTTP.ApplyTimeout <= 0 || c.ShutdownTimeout <= 0 {
		bad("--publish-timeout, --apply-timeout and --shutdown-timeout must be positive")
	}
	errs = append(errs, c.Store.Validate()...)
	errs = append(errs, c.Auth.Validate()...)
	errs = append(errs, c.HTTP.Validate()...)
	return errors.Join(errs...)
}
