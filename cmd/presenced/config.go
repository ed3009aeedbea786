package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/presenced/presenced/node"
)

// settings is what the command line, environment and config file set.
type settings struct {
	node      node.Config
	logLevel  string
	logFormat string
	// configFile is --config; showVersion is --version, which only prints
	// the version.
	configFile  string
	showVersion bool
}

// envPrefix starts the environment variable of every flag.
const envPrefix = "PRESENCE_"

// otherCommandsPrefix starts the variables of presence-dendrite, which may
// share an environment with presenced.
const otherCommandsPrefix = "PRESENCE_DENDRITE_"

// parseSettings reads settings from args, then, for every setting the
// command line left alone, from the environment (PRESENCE_<NAME>, in
// environ as os.Environ gives it), then from the YAML file named by --config
// (or PRESENCE_CONFIG). Flags win over the environment, which wins over the
// file. Every value goes through the same flag parser, so an invalid value
// fails the same way wherever it came from, and a PRESENCE_ variable or a
// file key that names no flag stops the start, named.
func parseSettings(args []string, environ []string, stderr io.Writer) (*settings, error) {
	s := &settings{node: node.DefaultConfig(), logLevel: "info", logFormat: "text"}
	fs := newFlagSet(s, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if s.showVersion {
		return s, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// The environment, for what the command line did not set.
	env, err := presenceEnv(fs, environ)
	if err != nil {
		return nil, err
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || !fromOutside(f.Name) {
			return
		}
		name := envName(f.Name)
		if v, ok := env[name]; ok && v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", name, v, err))
			}
			set[f.Name] = true
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// The config file, for what neither set.
	if s.configFile != "" {
		values, err := readConfigFile(s.configFile)
		if err != nil {
			return nil, err
		}
		for key, v := range values {
			name := strings.ReplaceAll(key, "_", "-")
			f := fs.Lookup(name)
			if f == nil || name == "config" || !fromOutside(name) {
				errs = append(errs, fmt.Errorf("%s: unknown key %q", s.configFile, key))
				continue
			}
			if set[name] {
				continue
			}
			if err := fs.Set(name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %v", s.configFile, key, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	switch s.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", s.logLevel)
	}
	switch s.logFormat {
	case "text", "json":
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", s.logFormat)
	}
	if err := s.node.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// fromOutside reports whether the flag name may also be set by the
// environment and the config file: every flag but --version.
func fromOutside(name string) bool { return name != "version" }

// presenceEnv returns the PRESENCE_ variables of environ by name, and an
// error naming each one that is the variable of no flag (a typo, which would
// otherwise be silently ignored). presence-dendrite's variables are left
// alone.
func presenceEnv(fs *flag.FlagSet, environ []string) (map[string]string, error) {
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		if fromOutside(f.Name) {
			known[envName(f.Name)] = true
		}
	})
	env := map[string]string{}
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || strings.HasPrefix(name, otherCommandsPrefix) {
			continue
		}
		if !known[name] {
			errs = append(errs, fmt.Errorf("environment variable %s names no setting%s (see -h)", name, suggestEnv(name, known)))
			continue
		}
		env[name] = value
	}
	return env, errors.Join(errs...)
}

// suggestEnv names the known variable closest to a mistyped one, when one
// is close enough to be what was meant.
func suggestEnv(name string, known map[string]bool) string {
	best, bestDist := "", 3 // at most two edits away
	for k := range known {
		if d := editDistance(name, k); d < bestDist || (d == bestDist && best != "" && k < best) {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// newFlagSet defines every flag of the node on s. Its usage message lists
// the subcommands before the flags.
func newFlagSet(s *settings, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("presenced", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { printUsage(fs) }
	c := &s.node
	fs.StringVar(&s.configFile, "config", "", "YAML config file; its keys are the flag names")
	fs.BoolVar(&s.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&c.HTTP.Listen, "listen", c.HTTP.Listen, "HTTP listen address")
	fs.StringVar(&c.Store.DataDir, "data-dir", c.Store.DataDir, "directory of the embedded NATS server's JetStream store")
	fs.Func("nats-url", "comma-separated URLs of an external NATS; empty runs an embedded server", func(v string) error {
		c.Store.NATSURLs = nil
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.Store.NATSURLs = append(c.Store.NATSURLs, u)
			}
		}
		return nil
	})
	fs.StringVar(&c.Store.NATSCreds, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&c.Store.NATSTLSCA, "nats-tls-ca", "", "CA certificate to verify NATS servers")
	fs.StringVar(&c.Store.NATSUser, "nats-user", "", "NATS user name")
	fs.StringVar(&c.Store.NATSPassword, "nats-password", "", "NATS password")
	fs.StringVar(&c.ServerName, "server-name", c.ServerName, "the homeserver's domain (server name)")
	fs.StringVar(&c.NodeName, "node-name", c.NodeName, "this node's name in events and logs (default: host name)")
	fs.StringVar(&c.Auth.TokensFile, "tokens-file", c.Auth.TokensFile, "YAML map of access token to user ID")
	fs.StringVar(&c.Store.Stream, "stream", c.Store.Stream, "JetStream stream name")
	fs.StringVar(&c.Store.SubjectPrefix, "subject-prefix", c.Store.SubjectPrefix, "subject prefix of presence events")
	fs.IntVar(&c.Store.StreamReplicas, "stream-replicas", c.Store.StreamReplicas, "stream replicas (3 on a cluster)")
	fs.IntVar(&c.Store.History, "history", c.Store.History, "events kept per user in the stream")
	fs.DurationVar(&c.Store.DedupeWindow, "dedupe-window", c.Store.DedupeWindow, "JetStream duplicate window for retried publishes")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "online with no activity for this long reads as unavailable (0 = never)")
	fs.DurationVar(&c.OfflineTimeout, "offline-timeout", c.OfflineTimeout, "no activity for this long reads as offline (0 = never)")
	fs.Int64Var(&c.HTTP.MaxBodyBytes, "max-body-bytes", c.HTTP.MaxBodyBytes, "largest PUT body accepted")
	fs.IntVar(&c.HTTP.MaxStatusMsgBytes, "max-status-msg-bytes", c.HTTP.MaxStatusMsgBytes, "longest status_msg accepted, in bytes of UTF-8")
	fs.DurationVar(&c.Store.PublishTimeout, "publish-timeout", c.Store.PublishTimeout, "how long a PUT waits for JetStream to store its event")
	fs.DurationVar(&c.HTTP.ApplyTimeout, "apply-timeout", c.HTTP.ApplyTimeout, "how long a PUT waits for this node to apply its event")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long in-flight requests may finish at shutdown")
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", c.ShutdownDelay, "how long a stopping node keeps serving while /readyz fails, before it closes its listener")
	fs.DurationVar(&c.Store.ReadyMaxLag, "ready-max-lag", c.Store.ReadyMaxLag, "how far behind the stream (in time) the node may fall before /readyz fails")
	fs.StringVar(&c.Auth.Provider, "auth", c.Auth.Provider, "how access tokens are checked: static (--tokens-file) or homeserver (--homeserver-url)")
	fs.StringVar(&c.Auth.HomeserverURL, "homeserver-url", c.Auth.HomeserverURL, "the homeserver's client API base URL, asked whose a token is when --auth homeserver")
	fs.DurationVar(&c.Auth.CacheTTL, "auth-cache-ttl", c.Auth.CacheTTL, "how long a token the homeserver accepted is trusted without asking again")
	fs.DurationVar(&c.Auth.NegativeCacheTTL, "auth-negative-cache-ttl", c.Auth.NegativeCacheTTL, "how long a token the homeserver refused is refused without asking again")
	fs.IntVar(&c.Auth.CacheSize, "auth-cache-size", c.Auth.CacheSize, "most tokens kept in the token cache")
	fs.DurationVar(&c.Auth.Timeout, "auth-timeout", c.Auth.Timeout, "longest wait for the homeserver's answer to a token check")
	fs.DurationVar(&c.Auth.TokensReloadInterval, "tokens-reload-interval", c.Auth.TokensReloadInterval, "how often the tokens file is checked for changes (0 = on SIGHUP only)")
	fs.StringVar(&c.Auth.Visibility, "visibility", c.Auth.Visibility, "who may read presence: authenticated, same-server or self")
	fs.Float64Var(&c.HTTP.RateLimitPerSecond, "ratelimit-per-second", c.HTTP.RateLimitPerSecond, "sustained presence updates per user per second (0 = no limit)")
	fs.IntVar(&c.HTTP.RateLimitBurst, "ratelimit-burst", c.HTTP.RateLimitBurst, "presence updates a user may send at once")
	fs.Float64Var(&c.HTTP.AuthFailuresPerSecond, "ratelimit-auth-failures-per-second", c.HTTP.AuthFailuresPerSecond, "sustained failed authentications per client address per second (0 = no limit)")
	fs.IntVar(&c.HTTP.AuthFailuresBurst, "ratelimit-auth-failures-burst", c.HTTP.AuthFailuresBurst, "failed authentications a client address may make at once")
	fs.IntVar(&c.HTTP.RateLimitTableSize, "ratelimit-table-size", c.HTTP.RateLimitTableSize, "most users (and, separately, client addresses) whose rate-limit buckets are kept")
	fs.StringVar(&c.HTTP.RealIPHeader, "real-ip-header", c.HTTP.RealIPHeader, "header in which the trusted reverse proxy passes the client address, e.g. X-Forwarded-For (empty = the TCP peer)")
	fs.IntVar(&c.HTTP.MaxInFlight, "max-in-flight", c.HTTP.MaxInFlight, "most API requests served at once; more are answered 503 (0 = no cap)")
	fs.IntVar(&c.HTTP.MaxConnections, "max-connections", c.HTTP.MaxConnections, "most open client connections (0 = no cap)")
	fs.IntVar(&c.HTTP.MaxHeaderBytes, "max-header-bytes", c.HTTP.MaxHeaderBytes, "largest request line and headers accepted")
	fs.DurationVar(&c.HTTP.ReadHeaderTimeout, "http-read-header-timeout", c.HTTP.ReadHeaderTimeout, "longest time a client may take to send request headers")
	fs.DurationVar(&c.HTTP.ReadTimeout, "http-read-timeout", c.HTTP.ReadTimeout, "longest time a client may take to send a whole request")
	fs.DurationVar(&c.HTTP.WriteTimeout, "http-write-timeout", c.HTTP.WriteTimeout, "longest time to answer a request once read (at least --publish-timeout + --apply-timeout + 1s)")
	fs.DurationVar(&c.HTTP.IdleTimeout, "http-idle-timeout", c.HTTP.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.StringVar(&c.HTTP.MetricsListen, "metrics-listen", c.HTTP.MetricsListen, "address of a listener of its own for /metrics, /healthz and /readyz; when set, /metrics is served only there (empty = /metrics on --listen and --internal-listen)")
	fs.StringVar(&c.HTTP.InternalListen, "internal-listen", c.HTTP.InternalListen, "address of the internal (fleet) API for the homeserver's components (empty = off)")
	fs.StringVar(&c.Auth.InternalSecretFile, "internal-secret-file", c.Auth.InternalSecretFile, "file holding the internal API's shared secret (required with --internal-listen; reloaded on SIGHUP)")
	fs.Int64Var(&c.HTTP.InternalMaxBodyBytes, "internal-max-body-bytes", c.HTTP.InternalMaxBodyBytes, "largest internal API request body accepted")
	fs.DurationVar(&c.SyncTimeout, "sync-timeout", c.SyncTimeout, "how long after its last sync a device counts as syncing")
	fs.DurationVar(&c.FederationTimeout, "federation-timeout", c.FederationTimeout, "how long a remote user's received presence lasts without an update")
	fs.StringVar(&c.HTTP.UnknownLocalUser, "unknown-local-user", c.HTTP.UnknownLocalUser, "GET of a user of this server with no state: offline (200, as Synapse) or not-found (404)")
	fs.StringVar(&s.logLevel, "log-level", s.logLevel, "debug, info, warn or error")
	fs.StringVar(&s.logFormat, "log-format", s.logFormat, "text or json")

	explainValues(fs)
	return fs
}

// envName is the environment variable of a flag: PRESENCE_ and the name in
// upper snake case.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// readConfigFile reads a YAML mapping of flag names to scalar values (or, for
// nats-url, a list).
func readConfigFile(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case int:
			out[k] = strconv.Itoa(x)
		case bool:
			out[k] = strconv.FormatBool(x)
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case time.Duration:
			out[k] = x.String()
		case []any:
			parts := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("config file %s: %s: list items must be strings", path, k)
				}
				parts = append(parts, s)
			}
			out[k] = strings.Join(parts, ",")
		case nil:
			out[k] = ""
		default:
			return nil, fmt.Errorf("config file %s: %s: unsupported value %v", path, k, v)
		}
	}
	return out, nil
}
