package httpapi

import (
	"context"
	"time"

	"github.com/presenced/presenced/node/fleet"
	"github.com/presenced/presenced/projection"
)

// Fleet carries out the fleet API's commands (node/fleet.Service).
type Fleet interface {
	Sync(ctx context.Context, c projection.SyncCommand) (fleet.Result, error)
	Active(ctx context.Context, c projection.ActiveCommand) (fleet.Result, error)
	Put(ctx context.Context, c projection.PutCommand) (fleet.Result, error)
	Federation(ctx context.Context, it projection.FederationItem) (fleet.Result, error)
}

// Feed is the change feed (node/fleet.Feed).
type Feed interface {
	Read(ctx context.Context, since *fleet.Position, limit int, wait time.Duration) (fleet.Page, error)
	Current() fleet.Position
}

// Records reads stored states, for the PUT handler's choice between the
// plain and the device-aware write.
type Records interface {
	Lookup(userID string) (projection.Record, bool)
}

// SecretChecker checks the internal API's shared secret; a refusal is an
// *apierr.Error of KindMissingToken or KindUnknownToken.
type SecretChecker interface {
	Check(presented string) error
}

// FleetDeps are the internal API's collaborators; nil Fleet means the node
// serves no internal API.
type FleetDeps struct {
	Fleet   Fleet
	Feed    Feed
	Records Records
	Secret  SecretChecker
	// ServerName is this server's domain: fleet commands are for its users,
	// federation items never are.
	ServerName string
}
