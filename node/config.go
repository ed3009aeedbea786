package node

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/presenced/presenced/events"
)

// Config is everything a node needs to run. cmd/presenced fills it from
// flags, environment and a config file; tests fill it directly.
type Config struct {
	// Listen is the HTTP listen address. ":0" or "127.0.0.1:0" picks a port.
	Listen string
	// ServerName is the homeserver's domain: users of this domain are ours.
	ServerName string
	// NodeName names this node in events it publishes and in logs.
	NodeName string

	// NATSURLs lists the servers of an external NATS; empty starts an
	// embedded server that stores under DataDir.
	NATSURLs []string
	// DataDir is where the embedded server keeps its JetStream files.
	DataDir string
	// NATSCreds, NATSTLSCA, NATSUser and NATSPassword authenticate to an
	// external NATS.
	NATSCreds    string
	NATSTLSCA    string
	NATSUser     string
	NATSPassword string

	// Stream is the JetStream stream name; SubjectPrefix the subjects' prefix.
	Stream        string
	SubjectPrefix string
	// StreamReplicas is the stream's replica count (3 on a cluster).
	StreamReplicas int
	// History is how many events the stream keeps per user (MaxMsgsPerSubject).
	History int
	// DedupeWindow is how long JetStream remembers Nats-Msg-Id values.
	DedupeWindow time.Duration

	// IdleTimeout and OfflineTimeout decay presence at read time; 0 disables.
	IdleTimeout    time.Duration
	OfflineTimeout time.Duration

	// TokensFile is a YAML map of access token to user ID.
	TokensFile string

	// MaxBodyBytes caps a PUT body; MaxStatusMsgBytes caps status_msg.
	MaxBodyBytes      int64
	MaxStatusMsgBytes int

	// PublishTimeout bounds a PUT's wait for JetStream's acknowledgement,
	// retries included; ApplyTimeout bounds its wait for the local projection
	// to apply the acknowledged event.
	PublishTimeout time.Duration
	ApplyTimeout   time.Duration

	// ShutdownTimeout bounds how long in-flight requests may finish.
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long a stopping node keeps serving while it
	// reports not ready, so that load balancers stop sending it requests
	// before it closes its listener.
	ShutdownDelay time.Duration

	// ReadyMaxLag is how long the projection may go without being known to
	// hold everything in the stream before the node reports not ready.
	ReadyMaxLag time.Duration
	// Auth selects how access tokens are checked: AuthStatic (TokensFile) or
	// AuthHomeserver (the homeserver's whoami at HomeserverURL).
	Auth          string
	HomeserverURL string
	// AuthCacheTTL is how long a token the homeserver accepted is trusted
	// without asking again; AuthNegativeCacheTTL the same for a refused one.
	// AuthCacheSize bounds each of the two caches; AuthTimeout bounds one
	// call to the homeserver.
	AuthCacheTTL         time.Duration
	AuthNegativeCacheTTL time.Duration
	AuthCacheSize        int
	AuthTimeout          time.Duration
	// TokensReloadInterval is how often the tokens file is checked for
	// changes (0: only on SIGHUP).
	TokensReloadInterval time.Duration

	// Visibility is who may read whose presence: VisibilityAuthenticated,
	// VisibilitySameServer or VisibilitySelf.
	Visibility string

	// RateLimitPerSecond and RateLimitBurst shape the per-user token bucket
	// of PUTs (0 per second disables it). AuthFailuresPerSecond and
	// AuthFailuresBurst shape the per-client-address bucket of requests that
	// fail authentication (0 disables it). RateLimitTableSize bounds how many
	// buckets of each kind are kept. RealIPHeader names the header in which
	// a trusted reverse proxy passes the client address (empty: the TCP peer).
	RateLimitPerSecond    float64
	RateLimitBurst        int
	AuthFailuresPerSecond float64
	AuthFailuresBurst     int
	RateLimitTableSize    int
	RealIPHeader          string

	// MaxInFlight caps concurrent API requests; MaxConnections caps open
	// connections; MaxHeaderBytes caps request headers. The HTTP timeouts
	// bound how long a client may take to send headers, a whole request,
	// to receive an answer, and to keep an idle connection open.
	MaxInFlight           int
	MaxConnections        int
	MaxHeaderBytes        int
	HTTPReadHeaderTimeout time.Duration
	HTTPReadTimeout       time.Duration
	HTTPWriteTimeout      time.Duration
	HTTPIdleTimeout       time.Duration
}

// DefaultConfig returns the defaults of every setting.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8008",
		ServerName:        "localhost",
		DataDir:           "./data",
		Stream:            "PRESENCE",
		SubjectPrefix:     events.DefaultSubjectPrefix,
		StreamReplicas:    1,
		History:           1,
		DedupeWindow:      2 * time.Minute,
		IdleTimeout:       5 * time.Minute,
		OfflineTimeout:    30 * time.Minute,
		MaxBodyBytes:      64 << 10,
		MaxStatusMsgBytes: 2 << 10,
		PublishTimeout:    5 * time.Second,
		ApplyTimeout:      5 * time.Second,
		ShutdownTimeout:   10 * time.Second,
		ReadyMaxLag:       5 * time.Second,

		Auth:                  AuthStatic,
		AuthCacheTTL:          60 * time.Second,
		AuthNegativeCacheTTL:  5 * time.Second,
		AuthCacheSize:         100_000,
		AuthTimeout:           5 * time.Second,
		TokensReloadInterval:  5 * time.Second,
		Visibility:            VisibilityAuthenticated,
		RateLimitPerSecond:    1,
		RateLimitBurst:        5,
		AuthFailuresPerSecond: 1,
		AuthFailuresBurst:     20,
		RateLimitTableSize:    100_000,
		MaxInFlight:           1024,
		MaxConnections:        4096,
		MaxHeaderBytes:        16 << 10,
		HTTPReadHeaderTimeout: 5 * time.Second,
		HTTPReadTimeout:       15 * time.Second,
		HTTPWriteTimeout:      30 * time.Second,
		HTTPIdleTimeout:       90 * time.Second,
	}
}

// Validate reports the first setting that cannot work, naming it as the
// command line does.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Listen == "" {
		bad("--listen must not be empty")
	}
	if err := events.ValidateServerName(c.ServerName); err != nil {
		bad("--server-name %q: %v", c.ServerName, err)
	}
	if len(c.NATSURLs) == 0 && c.DataDir == "" {
		bad("--data-dir must not be empty when NATS is embedded")
	}
	for _, u := range c.NATSURLs {
		if !strings.Contains(u, "://") {
			bad("--nats-url %q: want a URL such as nats://host:4222", u)
		}
	}
	if !validStreamName(c.Stream) {
		bad("--stream %q: a stream name is letters, digits, '-' and '_'", c.Stream)
	}
	if c.SubjectPrefix == "" || strings.ContainsAny(c.SubjectPrefix, " *>\t") || strings.HasSuffix(c.SubjectPrefix, ".") || strings.HasPrefix(c.SubjectPrefix, ".") {
		bad("--subject-prefix %q is not a valid subject prefix", c.SubjectPrefix)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		bad("--stream-replicas %d: want 1 to 5", c.StreamReplicas)
	}
	if c.History < 1 {
		bad("--history %d: want at least 1", c.History)
	}
	if c.DedupeWindow <= 0 {
		bad("--dedupe-window must be positive")
	}
	if c.IdleTimeout < 0 || c.OfflineTimeout < 0 {
		bad("--idle-timeout and --offline-timeout must not be negative")
	}
	if c.MaxBodyBytes < 64 {
		bad("--max-body-bytes %d: want at least 64", c.MaxBodyBytes)
	}
	if c.MaxStatusMsgBytes < 1 {
		bad("--max-status-msg-bytes %d: want at least 1", c.MaxStatusMsgBytes)
	}
	if c.ShutdownDelay < 0 {
		bad("--shutdown-delay must not be negative")
	}
	if c.PublishTimeout <= 0 || c.ApplyTimeout <= 0 || c.ShutdownTimeout <= 0 {
		bad("--publish-timeout, --apply-timeout and --shutdown-timeout must be positive")
	}
	if c.ReadyMaxLag <= 0 {
		bad("--ready-max-lag must be positive")
	}
	errs = append(errs, c.validateSecurity()...)
	return errors.Join(errs...)
}

func validStreamName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
