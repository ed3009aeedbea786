package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/presenced/presenced/events"
)

// Config is where presence events are stored and how the node follows them.
type Config struct {
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

	// PublishTimeout bounds a publish's wait for JetStream's
	// acknowledgement, retries included.
	PublishTimeout time.Duration
	// ReadyMaxLag is how long the projection may go without being known to
	// hold everything in the stream before the store reports it behind.
	ReadyMaxLag time.Duration
}

// DefaultConfig returns the defaults of the store settings.
func DefaultConfig() Config {
	return Config{
		DataDir:        "./data",
		Stream:         "PRESENCE",
		SubjectPrefix:  events.DefaultSubjectPrefix,
		StreamReplicas: 1,
		History:        1,
		DedupeWindow:   2 * time.Minute,
		PublishTimeout: 5 * time.Second,
		ReadyMaxLag:    5 * time.Second,
	}
}

// Validate reports the settings that cannot work, naming them as the
// command line does. It is the only check of these settings.
func (c *Config) Validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
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
	if c.ReadyMaxLag <= 0 {
		bad("--ready-max-lag must be positive")
	}
	return errs
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
