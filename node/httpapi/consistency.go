package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/apierr"
	"github.com/presenced/presenced/projection"
)

// consistentReadParam is the query parameter of a GET that asks for a
// consistent read: answered only once this node's projection has applied
// every event the stream held when the request arrived.
const consistentReadParam = "consistent"

// readSource says where a GET's answer comes from.
type readSource struct {
	// read is set when a consistent read read the state: the answer is
	// found and status, the projection's once it has caught up, or the
	// stream leader's when the projection disagrees with it about the user
	// (found: the leader holds one).
	read   bool
	found  bool
	status projection.Status
}

// consistentRead waits, when r asks for it, until the projection has applied
// a barrier stored after the request arrived (store.ReadBarrier: a sequence
// past every write acknowledged before), bounded by the apply timeout, and
// then checks the projection's state of userID against the stream leader's
// latest event for that user. They agree unless the consumer feeding the
// projection reads a replica whose history differs from the leader's (seen
// after changes of leader): the answer is then the leader's state, the
// consumer is replaced and the disagreement logged. It answers 503 with
// Retry-After when it cannot do all this.
func (a *API) consistentRead(r *http.Request, userID string) (readSource, error) {
	if r.URL.RawQuery == "" { // the common case; parsing the query allocates
		return readSource{}, nil
	}
	v := r.URL.Query().Get(consistentReadParam)
	if v == "" {
		return readSource{}, nil
	}
	want, err := strconv.ParseBool(v)
	if err != nil {
		return readSource{}, apierr.Errorf(apierr.KindInvalidParam, "Query parameter %q must be true or false.", consistentReadParam)
	}
	if !want {
		return readSource{}, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ApplyTimeout)
	defer cancel()
	last, err := a.d.Stream.ReadBarrier(ctx)
	if err != nil {
		return readSource{}, apierr.Unavailable("Cannot reach the presence store for a consistent read; try again.", time.Second, err)
	}
	if err := a.d.Stream.WaitApplied(ctx, last); err != nil {
		return readSource{}, apierr.Unavailable("This node has not caught up with the presence store; try again.", time.Second,
			fmt.Errorf("waiting for sequence %d (applied %d): %w", last, a.d.Presence.AppliedSeq(), err))
	}
	seq, storedAt, ev, found, err := a.d.Stream.LatestOf(ctx, userID)
	if errors.Is(err, events.ErrUnknownVersion) || errors.Is(err, events.ErrMalformed) {
		// An event this build cannot read: the projection skipped it as
		// well, so there is nothing to compare.
		st, ok := a.d.Presence.Status(userID, a.d.Clock.Now(), a.d.Decay)
		return readSource{read: true, found: ok, status: st}, nil
	}
	if err != nil {
		return readSource{}, apierr.Unavailable("Cannot reach the presence store for a consistent read; try again.", time.Second, err)
	}
	now := a.d.Clock.Now()
	st, ok := a.d.Presence.Status(userID, now, a.d.Decay)
	if ok == found && (!ok || st.Seq == seq) {
		return readSource{read: true, found: ok, status: st}, nil
	}
	a.d.Logger.Warn("projection disagrees with the stream leader; answering from the leader and replacing the consumer",
		"user_id", userID, "projection_seq", st.Seq, "leader_seq", seq, "barrier_seq", last)
	a.d.Stream.Resync()
	src := readSource{read: true, found: found}
	if found {
		src.status = projection.RecordOf(seq, storedAt, ev).StatusAt(now, a.d.Decay)
	}
	return src, nil
}
