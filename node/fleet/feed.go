package fleet

import (
	"context"
	"errors"
	"time"

	"github.com/presenced/presenced/projection"
)

// Changes is the change-feed view of the local projection.
type Changes interface {
	// Changes returns, in stream order, the stored states of the users whose
	// latest applied sequence is above since, at most limit of them, and the
	// position to resume from.
	Changes(since uint64, limit int) ([]projection.Record, uint64)
	AppliedSeq() uint64
}

// StreamLast tells the stream's last sequence, asked of the stream itself.
type StreamLast func(ctx context.Context) (uint64, error)

// Feed serves the change feed from the local projection. Positions are
// stream sequences, the same on every node, so a reader may resume on any
// node; a node that has not applied a reader's position yet waits for it.
type Feed struct {
	src    Changes
	waiter Waiter
	last   StreamLast
	epoch  func() uint64
}

// NewFeed returns a feed. epoch gives the stream's creation time, which
// positions carry.
func NewFeed(src Changes, w Waiter, last StreamLast, epoch func() uint64) *Feed {
	return &Feed{src: src, waiter: w, last: last, epoch: epoch}
}

// Page is one answer of the feed.
type Page struct {
	// Reset tells the reader that its position was not produced by this
	// stream: it must re-read the state it cares about and follow Next.
	Reset   bool
	Next    Position
	Changes []projection.Record
}

// ErrNotCaughtUp is returned when the node could not apply a reader's
// position within the wait: the reader should retry (on this or another node).
var ErrNotCaughtUp = errors.New("this node has not yet applied the requested position")

// Current is the position of everything this node has applied.
func (f *Feed) Current() Position {
	return Position{Epoch: f.epoch(), Seq: f.src.AppliedSeq()}
}

// Read answers one request: the changes after since (nil: none, just the
// current position), waiting up to wait for one to arrive.
func (f *Feed) Read(ctx context.Context, since *Position, limit int, wait time.Duration) (Page, error) {
	if since == nil {
		return Page{Next: f.Current()}, nil
	}
	if since.Epoch != f.epoch() {
		return Page{Reset: true, Next: f.Current()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if since.Seq > f.src.AppliedSeq() {
		last, err := f.last(ctx)
		if err != nil {
			return Page{}, err
		}
		if since.Seq > last {
			return Page{Reset: true, Next: f.Current()}, nil
		}
		// Another node has applied further than this one: catch up first.
		if err := f.waiter.Wait(ctx, since.Seq); err != nil {
			return Page{}, ErrNotCaughtUp
		}
	}
	for {
		applied := f.src.AppliedSeq()
		if recs, next := f.src.Changes(since.Seq, limit); len(recs) > 0 {
			return Page{Next: Position{Epoch: since.Epoch, Seq: next}, Changes: recs}, nil
		}
		// Nothing after since among the sequences applied so far (some may
		// have been skipped events): wait for the next one.
		if err := f.waiter.Wait(ctx, applied+1); err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return Page{Next: *since}, nil // the long poll ran out: no change
			}
			return Page{}, err
		}
	}
}
