package bridge

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// positionKey is the key of the feed position in the position bucket.
const positionKey = "position"

// positionStore keeps the change feed position that Dendrite has consumed
// everything up to. It is written by compare-and-set on its revision, so a
// replica that lost the lease without noticing cannot move it.
type positionStore struct {
	kv  jetstream.KeyValue
	rev uint64
}

// load returns the stored position; ok is false when none is stored yet.
func (s *positionStore) load(ctx context.Context) (pos string, ok bool, err error) {
	e, err := s.kv.Get(ctx, positionKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		s.rev = 0
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	s.rev = e.Revision()
	return string(e.Value()), true, nil
}

// store writes pos over the revision last loaded or stored. A mismatch means
// another replica wrote it: errLeaseLost.
func (s *positionStore) store(ctx context.Context, pos string) error {
	var rev uint64
	var err error
	if s.rev == 0 {
		rev, err = s.kv.Create(ctx, positionKey, []byte(pos))
	} else {
		rev, err = s.kv.Update(ctx, positionKey, []byte(pos), s.rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return errLeaseLost
	}
	if err != nil {
		return err
	}
	s.rev = rev
	return nil
}
