package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leaseKey is the one key of the lease bucket.
const leaseKey = "publisher"

// errLeaseLost means another replica holds the lease, or this one could not
// renew it in time.
var errLeaseLost = errors.New("publisher lease lost")

// lease is the right to publish, held in a KV bucket whose TTL is the lease
// time: the holder rewrites the key (compare-and-set on its revision) every
// third of the TTL, and a holder that stops writing loses the key to the
// bucket's expiry, after which another replica's create succeeds. NATS does
// the arbitration; no election of ours.
type lease struct {
	kv     jetstream.KeyValue
	holder string
	ttl    time.Duration
	rev    uint64
	// renewed is when the last write that this replica knows succeeded was
	// sent: the lease is safe to use until renewed + ttl, less a margin.
	renewed time.Time
}

// acquire tries once to take the lease; it reports false, with no error,
// when another replica holds it.
func (l *lease) acquire(ctx context.Context, now time.Time) (bool, error) {
	rev, err := l.kv.Create(ctx, leaseKey, []byte(l.holder))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.rev, l.renewed = rev, now
	return true, nil
}

// renew rewrites the key if this replica still holds it. A revision
// mismatch means another replica took it: errLeaseLost.
func (l *lease) renew(ctx context.Context, now time.Time) error {
	rev, err := l.kv.Update(ctx, leaseKey, []byte(l.holder), l.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return errLeaseLost
	}
	if err != nil {
		return err
	}
	l.rev, l.renewed = rev, now
	return nil
}

// safeUntil is the time after which this replica must act as if it had lost
// the lease: two thirds of the TTL after the last renewal was sent, leaving
// a third for clock rates and the server's expiry to differ.
func (l *lease) safeUntil() time.Time { return l.renewed.Add(l.ttl * 2 / 3) }

// release gives the lease up so that a standby replica takes over at once
// instead of after the TTL.
func (l *lease) release(ctx context.Context) error {
	return l.kv.Delete(ctx, leaseKey, jetstream.LastRevision(l.rev))
}
