// Package fleet carries out the fleet API's commands (sync liveness,
// activity, federation ingest, timer transitions) and serves its change
// feed. It decides nothing about presence itself: the projection's writer
// functions compute each user's next state, and this package stores it so
// that concurrent writers on any number of nodes never overwrite each other.
//
// Every write is conditional on the user's last stored sequence
// (Nats-Expected-Last-Subject-Sequence): a node computes the new state from
// what its projection holds, and the stream stores it only if nothing newer
// was stored for that user meanwhile. On a conflict the node waits until it
// has applied the newer event and computes again. So no leader is needed,
// and a timer transition that every node notices is stored once.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/projection"
)

// Store publishes events on the condition that the user's subject still
// ends at a given sequence.
type Store interface {
	// PublishIfLast stores ev only if the last stored sequence of its
	// user's subject is expect (0: the subject holds nothing). It returns
	// the new event's sequence, or an error that errors.As finds a
	// *ConflictError in when something newer was stored.
	PublishIfLast(ctx context.Context, ev events.Event, expect uint64) (uint64, error)
}

// ConflictError reports that a conditional publish found a newer event.
type ConflictError struct {
	// Last is the subject's last sequence as the stream reported it, or 0
	// when the stream did not say.
	Last uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("a newer event is stored for this user (last sequence %d)", e.Last)
}

// Waiter tells when the local projection has applied a stream sequence.
type Waiter interface {
	Wait(ctx context.Context, seq uint64) error
}

// Records reads users' stored states from the local projection.
type Records interface {
	Lookup(userID string) (projection.Record, bool)
	AppliedSeq() uint64
}

// Clock tells the time at which commands are computed.
type Clock interface{ Now() time.Time }

// Command computes a user's next state from the stored one (ok is false
// when the user has none), as of now. It returns publish=false when the
// command changes nothing that needs storing.
type Command func(rec projection.Record, ok bool, now time.Time) (ev events.Event, publish bool)

// maxAttempts bounds how often one command is recomputed after conflicts.
// Each conflict means another writer stored something for the same user in
// the meantime, so running out takes a user written to without pause from
// several nodes; the caller then gets an error it answers 503.
const maxAttempts = 8

// ErrBusy is returned when a command lost maxAttempts conflicts in a row.
var ErrBusy = errors.New("too many concurrent writes for this user")

// Writer stores commands' results.
type Writer struct {
	store   Store
	waiter  Waiter
	records Records
	clock   Clock
	// applyTimeout bounds the wait for the local projection to apply an
	// event: the one just stored (read-your-writes) or the one a conflict
	// reported.
	applyTimeout time.Duration
}

// NewWriter returns a Writer.
func NewWriter(s Store, w Waiter, r Records, c Clock, applyTimeout time.Duration) *Writer {
	return &Writer{store: s, waiter: w, records: r, clock: c, applyTimeout: applyTimeout}
}

// Result tells what Do did.
type Result struct {
	Stored bool   // an event was stored (false: the command was absorbed)
	Seq    uint64 // its sequence
}

// Do runs cmd for userID until its result is stored (or absorbed), and
// returns once the local projection has applied it, so that a read on this
// node sees it.
func (w *Writer) Do(ctx context.Context, userID string, cmd Command) (Result, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		rec, ok := w.records.Lookup(userID)
		ev, publish := cmd(rec, ok, w.clock.Now())
		if !publish {
			return Result{}, nil
		}
		var expect uint64
		if ok {
			expect = rec.Seq
		}
		seq, err := w.store.PublishIfLast(ctx, ev, expect)
		var conflict *ConflictError
		switch {
		case err == nil:
			if err := w.wait(ctx, seq); err != nil {
				return Result{Stored: true, Seq: seq}, fmt.Errorf("stored as %d but not applied here: %w", seq, err)
			}
			// The user's state must now be this event or a later one; an
			// older one means the acknowledgement named a sequence the
			// stream gave to another message (a change of stream leader):
			// not known to be stored, so not answered as such.
			if got, ok := w.records.Lookup(userID); !ok || got.Seq < seq {
				return Result{}, fmt.Errorf("acknowledged as sequence %d, but the user's state is at %d", seq, got.Seq)
			}
			return Result{Stored: true, Seq: seq}, nil
		case errors.As(err, &conflict):
			// Catch up with what was stored meanwhile, then compute again.
			target := conflict.Last
			if target == 0 {
				target = max(w.records.AppliedSeq(), expect) + 1
			}
			if err := w.wait(ctx, target); err != nil {
				return Result{}, fmt.Errorf("catching up after a conflict: %w", err)
			}
		default:
			return Result{}, err
		}
	}
	return Result{}, ErrBusy
}

func (w *Writer) wait(ctx context.Context, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, w.applyTimeout)
	defer cancel()
	return w.waiter.Wait(ctx, seq)
}
