package httpapi

import (
	"fmt"
	"strings"
	"time"
)

// Config is how the client API listens, what it accepts and how it limits
// its clients.
type Config struct {
	// Listen is the HTTP listen address. ":0" or "127.0.0.1:0" picks a port.
	Listen string

	// MaxBodyBytes caps a PUT body; MaxStatusMsgBytes caps status_msg.
	MaxBodyBytes      int64
	MaxStatusMsgBytes int
	// ApplyTimeout bounds a PUT's (or a consistent GET's) wait for the
	// local projection to apply what the stream acknowledged.
	ApplyTimeout time.Duration

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
	// connections; MaxHeaderBytes caps request headers. The timeouts bound
	// how long a client may take to send headers, a whole request, to
	// receive an answer, and to keep an idle connection open.
	MaxInFlight       int
	MaxConnections    int
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// UnknownLocalUser is the answer to a GET of a user of this server who
	// has no state: UnknownLocalUserOffline (200 {"presence":"offline"}, as
	// Synapse answers and the homeserver test suites expect) or
	// UnknownLocalUserNotFound (404 M_NOT_FOUND, as the specification allows).
	UnknownLocalUser string

	// InternalListen is the address of the internal (fleet) API; empty
	// serves none. InternalMaxBodyBytes caps its request bodies, which are
	// larger than the client API's (a bulk query of 10000 users).
	InternalListen       string
	InternalMaxBodyBytes int64

	// MetricsListen is the address of a listener of its own for /metrics
	// and the probes; when set, /metrics is served there only. Empty serves
	// /metrics on the client (and internal) listener.
	MetricsListen string
}

// The values of Config.UnknownLocalUser.
const (
	UnknownLocalUserOffline  = "offline"
	UnknownLocalUserNotFound = "not-found"
)

// DefaultConfig returns the defaults of the HTTP settings.
func DefaultConfig() Config {
	return Config{
		Listen:                "127.0.0.1:8008",
		MaxBodyBytes:          64 << 10,
		MaxStatusMsgBytes:     2 << 10,
		ApplyTimeout:          5 * time.Second,
		RateLimitPerSecond:    1,
		RateLimitBurst:        5,
		AuthFailuresPerSecond: 1,
		AuthFailuresBurst:     20,
		RateLimitTableSize:    100_000,
		MaxInFlight:           1024,
		MaxConnections:        4096,
		MaxHeaderBytes:        16 << 10,
		ReadHeaderTimeout:     5 * time.Second,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           90 * time.Second,
		UnknownLocalUser:      UnknownLocalUserOffline,
		InternalMaxBodyBytes:  4 << 20,
	}
}

// Validate reports the settings that cannot work, naming them as the
// command line does. It is the only check of these settings.
func (c *Config) Validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Listen == "" {
		bad("--listen must not be empty")
	}
	if c.MaxBodyBytes < 64 {
		bad("--max-body-bytes %d: want at least 64", c.MaxBodyBytes)
	}
	if c.MaxStatusMsgBytes < 1 {
		bad("--max-status-msg-bytes %d: want at least 1", c.MaxStatusMsgBytes)
	}
	if c.RateLimitPerSecond < 0 || c.AuthFailuresPerSecond < 0 {
		bad("--ratelimit-per-second and --ratelimit-auth-failures-per-second must not be negative")
	}
	if (c.RateLimitPerSecond > 0 && c.RateLimitBurst < 1) || (c.AuthFailuresPerSecond > 0 && c.AuthFailuresBurst < 1) {
		bad("--ratelimit-burst and --ratelimit-auth-failures-burst must be at least 1 when their rate is set")
	}
	if (c.RateLimitPerSecond > 0 || c.AuthFailuresPerSecond > 0) && c.RateLimitTableSize < 1 {
		bad("--ratelimit-table-size %d: want at least 1", c.RateLimitTableSize)
	}
	if c.MaxInFlight < 0 || c.MaxConnections < 0 {
		bad("--max-in-flight and --max-connections must not be negative (0: no cap)")
	}
	if c.MaxHeaderBytes < 1024 {
		bad("--max-header-bytes %d: want at least 1024", c.MaxHeaderBytes)
	}
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		bad("--http-read-header-timeout, --http-read-timeout, --http-write-timeout and --http-idle-timeout must be positive")
	}
	switch c.UnknownLocalUser {
	case UnknownLocalUserOffline, UnknownLocalUserNotFound:
	default:
		bad("--unknown-local-user %q: want %s or %s", c.UnknownLocalUser, UnknownLocalUserOffline, UnknownLocalUserNotFound)
	}
	if c.InternalListen != "" && c.InternalListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		bad("--internal-listen must differ from --listen")
	}
	if c.MetricsListen != "" && !strings.HasSuffix(c.MetricsListen, ":0") &&
		(c.MetricsListen == c.Listen || c.MetricsListen == c.InternalListen) {
		bad("--metrics-listen must differ from --listen and --internal-listen")
	}
	if c.InternalMaxBodyBytes < 1024 {
		bad("--internal-max-body-bytes %d: want at least 1024", c.InternalMaxBodyBytes)
	}
	return errs
}
