package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
)

// ErrIncompatibleStream is returned when a stream of the configured name
// exists but cannot be used, or updated safely, for presence events. The node
// never deletes or purges a stream to fix this: an operator decides.
var ErrIncompatibleStream = errors.New("incompatible stream")

// desiredStream is the stream configuration the node asks for.
func desiredStream(cfg *Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              cfg.Stream,
		Description:       "Matrix presence events, latest per user (presenced)",
		Subjects:          []string{events.SubjectFilter(cfg.SubjectPrefix)},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: int64(cfg.History),
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxAge:            0,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.StreamReplicas,
		Duplicates:        cfg.DedupeWindow,
		AllowDirect:       true,
	}
}

// ensureStream creates the stream if it is missing and updates it if it
// differs only in settings that can change without losing data. It is safe
// for several nodes to run at once: creating a stream that exists with the
// same configuration succeeds, and whoever loses a creation race reads and
// checks the winner's stream. Errors that a young cluster gives while it
// settles (no meta leader yet, too few peers known, timeouts) are retried
// until ctx ends; an incompatible stream is not.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg *Config, log *slog.Logger) (jetstream.Stream, error) {
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s, err := ensureStreamOnce(ctx, js, cfg)
		if err == nil || errors.Is(err, ErrIncompatibleStream) {
			return s, err
		}
		if attempt%10 == 1 {
			log.Warn("stream not ready yet; retrying", "stream", cfg.Stream, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}

func ensureStreamOnce(ctx context.Context, js jetstream.JetStream, cfg *Config) (jetstream.Stream, error) {
	want := desiredStream(cfg)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := js.Stream(rctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(rctx, want)
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", want.Name, err)
		}
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", want.Name, err)
	}
	have := s.CachedInfo().Config
	update, err := reconcileStream(have, want)
	if err != nil {
		return nil, err
	}
	if update == nil {
		return s, nil
	}
	s, err = js.UpdateStream(rctx, *update)
	if err != nil {
		return nil, fmt.Errorf("update stream %s: %w", want.Name, err)
	}
	return s, nil
}

// reconcileStream compares an existing stream with the wanted one. It returns
// nil when nothing needs to change, the configuration to update to when the
// change is safe, and ErrIncompatibleStream when it is not.
func reconcileStream(have, want jetstream.StreamConfig) (*jetstream.StreamConfig, error) {
	incompatible := func(format string, a ...any) error {
		return fmt.Errorf("%w %s: %s; fix or migrate the stream by hand (nothing was changed)",
			ErrIncompatibleStream, have.Name, fmt.Sprintf(format, a...))
	}
	if have.Storage != want.Storage {
		return nil, incompatible("storage is %s, want %s", have.Storage, want.Storage)
	}
	if have.Retention != jetstream.LimitsPolicy {
		return nil, incompatible("retention is %s, want limits", have.Retention)
	}
	if !slices.Contains(have.Subjects, want.Subjects[0]) {
		return nil, incompatible("subjects are %v, want them to include %q", have.Subjects, want.Subjects[0])
	}
	if have.MaxAge != 0 || have.MaxMsgs > 0 || have.MaxBytes > 0 {
		return nil, incompatible("it has age or size limits (max_age %s, max_msgs %d, max_bytes %d) that would expire presence state",
			have.MaxAge, have.MaxMsgs, have.MaxBytes)
	}
	if have.MaxMsgsPerSubject <= 0 || have.MaxMsgsPerSubject > want.MaxMsgsPerSubject {
		// Lowering the per-subject limit would drop stored history.
		return nil, incompatible("it keeps %d messages per subject and lowering that to %d would delete history",
			have.MaxMsgsPerSubject, want.MaxMsgsPerSubject)
	}
	next := have
	next.MaxMsgsPerSubject = want.MaxMsgsPerSubject
	next.Replicas = want.Replicas
	next.Duplicates = want.Duplicates
	next.AllowDirect = want.AllowDirect
	next.Discard = want.Discard
	if next.MaxMsgsPerSubject == have.MaxMsgsPerSubject && next.Replicas == have.Replicas &&
		next.Duplicates == have.Duplicates && next.AllowDirect == have.AllowDirect && next.Discard == have.Discard {
		return nil, nil
	}
	return &next, nil
}

// streamLastSeq returns the stream's last sequence.
func streamLastSeq(ctx context.Context, js jetstream.JetStream, name string) (uint64, error) {
	last, _, err := streamState(ctx, js, name)
	return last, err
}

// streamState returns the stream's last sequence and whether its leader
// sees a quorum of replicas online (always true for a single replica). The
// leader of a stream that lost its quorum still answers this for a while,
// but cannot store anything: the node uses this to fail PUTs fast.
func streamState(ctx context.Context, js jetstream.JetStream, name string) (last uint64, quorum bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		return 0, false, err
	}
	info := s.CachedInfo()
	return info.State.LastSeq, hasQuorum(info.Cluster), nil
}

// hasQuorum reports whether a stream's leader and the replicas it sees
// online are a majority of the group.
func hasQuorum(ci *jetstream.ClusterInfo) bool {
	if ci == nil || len(ci.Replicas) == 0 {
		return ci == nil || ci.Leader != ""
	}
	if ci.Leader == "" {
		return false
	}
	alive := 1
	for _, r := range ci.Replicas {
		if r != nil && !r.Offline {
			alive++
		}
	}
	return 2*alive > 1+len(ci.Replicas)
}
