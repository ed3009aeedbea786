package bridge

import (
	"errors"
	"fmt"
	"time"
)

// dendritePresenceMaxAge is the MaxAge of Dendrite's presence stream
// (setup/jetstream/streams.go): what is not consumed by then is gone.
const dendritePresenceMaxAge = 5 * time.Minute

// Config is what a bridge replica needs besides its connections.
type Config struct {
	// Dendrite names Dendrite's stream and sync consumer.
	Dendrite Dendrite
	// Bucket is the KV bucket holding the feed position; the lease is in
	// Bucket + "-lease", whose TTL is LeaseTTL.
	Bucket string
	// BucketReplicas is the replica count of both buckets (3 on a cluster).
	BucketReplicas int
	// Consumer is the bridge's own durable consumer on Dendrite's presence
	// stream, through which inbound federation presence is forwarded.
	Consumer string
	// Replica names this replica in the lease, in the marker header of its
	// publications and in logs. It must differ between replicas.
	Replica string
	// LeaseTTL is how long the lease outlives its holder's last renewal.
	LeaseTTL time.Duration
	// BatchLimit is the most changes asked of the feed at once.
	BatchLimit int
	// PollTimeout is how long the feed may hold a request with no change.
	PollTimeout time.Duration
	// DeliveryTimeout is how long a page's publications may wait for
	// Dendrite's acknowledgement before the page is read and published again.
	DeliveryTimeout time.Duration
	// MaxLastActiveAge clamps the last_active_ts published to at most this
	// long ago (0: never), so that Dendrite's incremental /sync, which only
	// shows rows active in the last five minutes, shows every change.
	MaxLastActiveAge time.Duration
}

// DefaultConfig is the configuration the command starts from.
func DefaultConfig() Config {
	return Config{
		Dendrite:         Dendrite{Prefix: "Dendrite"},
		Bucket:           "presence-dendrite",
		BucketReplicas:   1,
		Consumer:         "presence-dendrite",
		LeaseTTL:         10 * time.Second,
		BatchLimit:       1000,
		PollTimeout:      30 * time.Second,
		DeliveryTimeout:  time.Minute,
		MaxLastActiveAge: 4 * time.Minute,
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.Dendrite.Prefix == "" {
		errs = append(errs, errors.New("the JetStream prefix is empty"))
	}
	if c.Bucket == "" || c.Consumer == "" || c.Replica == "" {
		errs = append(errs, errors.New("the KV bucket, consumer and replica names must not be empty"))
	}
	if c.BucketReplicas < 1 || c.BucketReplicas > 5 {
		errs = append(errs, fmt.Errorf("bucket replicas %d: want 1 to 5", c.BucketReplicas))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease TTL %s: want at least 1s", c.LeaseTTL))
	}
	if c.BatchLimit < 1 || c.BatchLimit > 10000 {
		errs = append(errs, fmt.Errorf("batch limit %d: want 1 to 10000", c.BatchLimit))
	}
	if c.PollTimeout < 0 || c.PollTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("poll timeout %s: want 0 to 1m (the feed's maximum)", c.PollTimeout))
	}
	// A publication not acknowledged by then may still be in the stream;
	// past half the stream's MaxAge it could expire unconsumed while the
	// ack floor moves past it, and would wrongly count as consumed.
	if c.DeliveryTimeout <= 0 || c.DeliveryTimeout > dendritePresenceMaxAge/2 {
		errs = append(errs, fmt.Errorf("delivery timeout %s: want more than 0 and at most %s", c.DeliveryTimeout, dendritePresenceMaxAge/2))
	}
	if c.MaxLastActiveAge < 0 || c.MaxLastActiveAge >= dendritePresenceMaxAge {
		errs = append(errs, fmt.Errorf("max last-active age %s: want 0 (off) or less than %s", c.MaxLastActiveAge, dendritePresenceMaxAge))
	}
	return errors.Join(errs...)
}
