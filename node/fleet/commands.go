package fleet

import (
	"context"
	"time"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/projection"
)

// Service runs the fleet API's commands for one node: it binds the
// projection's writer functions to the node's policy and name and stores
// their results through a Writer.
type Service struct {
	w      *Writer
	pol    projection.Policy
	origin string
}

// NewService returns a service that writes through w, computing with pol
// and naming origin as the events' writer.
func NewService(w *Writer, pol projection.Policy, origin string) *Service {
	return &Service{w: w, pol: pol, origin: origin}
}

// Sync records one /sync of a device.
func (s *Service) Sync(ctx context.Context, c projection.SyncCommand) (Result, error) {
	return s.w.Do(ctx, c.UserID, s.bind(func(rec projection.Record, ok bool, now time.Time) (events.Event, bool) {
		return projection.Sync(rec, ok, c, now, s.pol)
	}))
}

// Active records activity of a device.
func (s *Service) Active(ctx context.Context, c projection.ActiveCommand) (Result, error) {
	return s.w.Do(ctx, c.UserID, s.bind(func(rec projection.Record, ok bool, now time.Time) (events.Event, bool) {
		return projection.Active(rec, ok, c, now, s.pol)
	}))
}

// Put stores a client PUT that needs the user's devices taken into
// account (see NeedsDevices).
func (s *Service) Put(ctx context.Context, c projection.PutCommand) (Result, error) {
	return s.w.Do(ctx, c.UserID, s.bind(func(rec projection.Record, ok bool, now time.Time) (events.Event, bool) {
		return projection.Put(rec, ok, c, now, s.pol)
	}))
}

// Federation stores one item of an m.presence EDU.
func (s *Service) Federation(ctx context.Context, it projection.FederationItem) (Result, error) {
	return s.w.Do(ctx, it.UserID, s.bind(func(rec projection.Record, ok bool, now time.Time) (events.Event, bool) {
		return projection.Federation(rec, ok, it, now, s.pol)
	}))
}

// Expire is the reaper's command: the state as of now once a timer ran out.
func (s *Service) Expire() Command {
	return s.bind(func(rec projection.Record, ok bool, now time.Time) (events.Event, bool) {
		if !ok {
			return events.Event{}, false
		}
		return projection.Expire(rec, now, s.pol)
	})
}

// NeedsDevices reports whether a PUT by deviceID on a user whose stored
// record is rec (ok: one exists) must go through the conditional writer.
// A device-less PUT on a user who has no devices and no remote state is the
// plain event nodes have always written, published unconditionally like
// before, so that a deployment without liveness calls behaves as it did.
func NeedsDevices(rec projection.Record, ok bool, deviceID string) bool {
	return deviceID != "" || (ok && (rec.Extended() || rec.Remote()))
}

// bind fills in what every stored event carries besides its state. The
// request ID (and Nats-Msg-Id) is left to the store, which gives each
// publish its own; a command recomputed after a conflict is a new event.
func (s *Service) bind(cmd Command) Command {
	return func(rec projection.Record, ok bool, now time.Time) (events.Event, bool) {
		ev, publish := cmd(rec, ok, now)
		if publish {
			ev.V = events.SchemaVersion
			ev.Origin = s.origin
		}
		return ev, publish
	}
}
