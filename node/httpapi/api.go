// Package httpapi is the HTTP side of a node: the router and its path
// matcher, one middleware chain (CORS, limits and metrics) in front of every
// answer, rate limiting, the PUT body parser, the status JSON, the presence
// and probe handlers, and the one table from error kind to status and
// Matrix errcode. It declares the small interfaces it needs from the rest
// of the node and never imports NATS or node/store, so that handlers can be
// added (the fleet API) without the API reaching into the stream.
package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/projection"
)

// Requester is who sent a request, as the authenticator resolved its token.
// DeviceID is empty when the authenticator does not know it.
type Requester struct {
	UserID   string
	DeviceID string
}

// Authenticator resolves an access token. It returns an *apierr.Error of
// KindUnknownToken for a token it refuses, KindUnavailable when it cannot
// tell now. Known answers, without asking anyone, for a token it knows good
// from memory (false when it would have to ask).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Requester, error)
	Known(token string) (Requester, bool)
}

// Policy says who may read and write whose presence; a refusal is an
// *apierr.Error.
type Policy interface {
	CheckVisible(requester, target string) error
	CheckOwnServer(userID string) error
}

// Publisher stores an event and returns its stream sequence once the store
// has acknowledged it.
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (uint64, error)
}

// Stream is what reads need of the store: its last sequence now, a
// sequence past every write acknowledged so far (a consistent read's
// barrier), and a wait until this node has applied a sequence.
type Stream interface {
	LastSeq(ctx context.Context) (uint64, error)
	ReadBarrier(ctx context.Context) (uint64, error)
	// LatestOf is userID's latest event as the stream leader holds it
	// (found false: none); Resync replaces the consumer that feeds the
	// projection, when the two were found to disagree.
	LatestOf(ctx context.Context, userID string) (seq uint64, storedAt time.Time, ev events.Event, found bool, err error)
	Resync()
	WaitApplied(ctx context.Context, seq uint64) error
}

// Presence is the read view of the projection.
type Presence interface {
	Status(userID string, now time.Time, pol projection.Policy) (projection.Status, bool)
	AppliedSeq() uint64
}

// Health is the node's state as the probes and the handlers see it.
type Health interface {
	// Serving reports whether the projection has caught up with the stream
	// once: before that, the API answers 503 rather than a partial view.
	Serving() bool
	// Readiness reports whether the node should receive traffic, and why not.
	Readiness() (ok bool, why string)
}

// Clock tells the time at which presence is read.
type Clock interface{ Now() time.Time }

// Deps are the API's collaborators; every field is required but Gatherer.
type Deps struct {
	Auth      Authenticator
	Policy    Policy
	Publisher Publisher
	Stream    Stream
	Presence  Presence
	Health    Health
	Clock     Clock
	Logger    *slog.Logger
	Metrics   Metrics
	// Gatherer serves /metrics (none when nil).
	Gatherer prometheus.Gatherer
	// Decay is the read-time decay of presence.
	Decay projection.Policy
	// Origin names this node in the events it publishes.
	Origin string
	// PublishTimeout is the store's bound on a publish, for the write
	// timeout of the listener that answers PUTs.
	PublishTimeout time.Duration
	// ServerName is this server's domain.
	ServerName string
	// Fleet, when its Fleet is set, is the internal API's: InternalHandler
	// serves it and PUTs take the requester's device into account.
	Fleet FleetDeps
}

// API serves the client API (and, on a listener of its own, the internal
// one) from its Deps.
type API struct {
	cfg    Config
	d      Deps
	f      FleetDeps
	limits *limits
	// internalLimits caps headers on the internal listener, but not
	// requests in flight: its long polls are meant to wait.
	internalLimits *limits
	putLimits      *keyedLimiter
	authFailures   *keyedLimiter
}

// New builds the API. cfg is assumed valid (Config.Validate). Rate limits
// run on the system clock: Deps.Clock is for queries.
func New(cfg Config, d Deps) *API {
	return &API{
		cfg:            cfg,
		d:              d,
		f:              d.Fleet,
		limits:         newLimits(cfg.MaxInFlight, cfg.MaxHeaderBytes, d.Metrics.Rejected),
		internalLimits: newLimits(0, cfg.MaxHeaderBytes, d.Metrics.Rejected),
		putLimits:      newKeyedLimiter(cfg.RateLimitPerSecond, cfg.RateLimitBurst, cfg.RateLimitTableSize, time.Now),
		authFailures:   newKeyedLimiter(cfg.AuthFailuresPerSecond, cfg.AuthFailuresBurst, cfg.RateLimitTableSize, time.Now),
	}
}
