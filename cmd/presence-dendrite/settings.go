package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/presenced/presenced/cmd/presence-dendrite/bridge"
)

// settings is what the command line and the environment set.
type settings struct {
	bridge       bridge.Config
	presencedURL string
	secretFile   string
	natsURL      string
	natsCreds    string
	listen       string
	logLevel     string
	logFormat    string
}

// parseSettings reads flags from args and, for every flag the command line
// left alone, PRESENCE_DENDRITE_<NAME> from the environment.
func parseSettings(args []string, getenv func(string) string, stderr io.Writer) (*settings, error) {
	s := &settings{bridge: bridge.DefaultConfig(), natsURL: "nats://127.0.0.1:4222", listen: ":8091", logLevel: "info", logFormat: "text"}
	c := &s.bridge
	fs := flag.NewFlagSet("presence-dendrite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.presencedURL, "presenced-url", "", "base URL of presenced's internal listener, e.g. http://presenced:8009 (required)")
	fs.StringVar(&s.secretFile, "internal-secret-file", "", "file holding presenced's internal shared secret (required)")
	fs.StringVar(&s.natsURL, "nats-url", s.natsURL, "comma-separated URLs of Dendrite's NATS (global.jetstream.addresses)")
	fs.StringVar(&s.natsCreds, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&c.Dendrite.Prefix, "jetstream-prefix", c.Dendrite.Prefix, "Dendrite's global.jetstream.topic_prefix")
	fs.StringVar(&c.Dendrite.SyncConsumer, "dendrite-consumer", "", "durable name of Dendrite's sync presence consumer (default: <prefix>SyncAPIPresenceConsumerPull)")
	fs.StringVar(&s.listen, "listen", s.listen, "address of /healthz, /readyz and /metrics")
	fs.StringVar(&c.Bucket, "kv-bucket", c.Bucket, "KV bucket of the feed position; the lease is in <bucket>-lease")
	fs.IntVar(&c.BucketReplicas, "kv-replicas", c.BucketReplicas, "replicas of the KV buckets (3 on a NATS cluster)")
	fs.StringVar(&c.Consumer, "consumer", c.Consumer, "durable name of the bridge's consumer of inbound federation presence")
	fs.StringVar(&c.Replica, "replica", "", "this replica's name, unique among replicas (default: host name and a random suffix)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", c.LeaseTTL, "how long the publisher lease outlives a replica that stopped renewing it")
	fs.IntVar(&c.BatchLimit, "batch-limit", c.BatchLimit, "most changes asked of the feed at once")
	fs.DurationVar(&c.PollTimeout, "poll-timeout", c.PollTimeout, "how long the feed may hold a request with no change")
	fs.DurationVar(&c.DeliveryTimeout, "delivery-timeout", c.DeliveryTimeout, "how long publications may wait for Dendrite's acknowledgement before they are sent again (at most 2m30s)")
	fs.DurationVar(&c.MaxLastActiveAge, "max-last-active-age", c.MaxLastActiveAge, "publish last_active_ts at most this long ago, so that Dendrite's incremental /sync shows every change (0 = exact times)")
	fs.StringVar(&s.logLevel, "log-level", s.logLevel, "debug, info, warn or error")
	fs.StringVar(&s.logFormat, "log-format", s.logFormat, "text or json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v := getenv(env); v != "" && !set[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", env, v, err))
			}
		}
	})
	if s.presencedURL == "" {
		errs = append(errs, errors.New("--presenced-url is required"))
	}
	if s.secretFile == "" {
		errs = append(errs, errors.New("--internal-secret-file is required"))
	}
	switch s.logLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", s.logLevel))
	}
	if s.logFormat != "text" && s.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", s.logFormat))
	}
	if c.Replica == "" {
		c.Replica = defaultReplica()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// envName is the environment variable of a flag: PRESENCE_DENDRITE_ and the
// name in upper snake case.
func envName(flagName string) string {
	return "PRESENCE_DENDRITE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// defaultReplica is the host name and a random suffix, so that two replicas
// on one host, or one restarted, never share a name.
func defaultReplica() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "presence-dendrite"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
