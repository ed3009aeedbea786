package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/presenced/presenced/node/apierr"
)

// consistentReadParam is the query parameter of a GET that asks for a
// consistent read: answered only once this node's projection has applied
// every event the stream held when the request arrived.
const consistentReadParam = "consistent"

// consistentRead waits, when r asks for it, until the projection has applied
// a barrier stored after the request arrived (store.ReadBarrier: a sequence
// past every write acknowledged before), bounded by the apply timeout. It
// answers 503 with Retry-After when it cannot.
func (a *API) consistentRead(r *http.Request) error {
	if r.URL.RawQuery == "" { // the common case; parsing the query allocates
		return nil
	}
	v := r.URL.Query().Get(consistentReadParam)
	if v == "" {
		return nil
	}
	want, err := strconv.ParseBool(v)
	if err != nil {
		return apierr.Errorf(apierr.KindInvalidParam, "Query parameter %q must be true or false.", consistentReadParam)
	}
	if !want {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ApplyTimeout)
	defer cancel()
	last, err := a.d.Stream.ReadBarrier(ctx)
	if err != nil {
		return apierr.Unavailable("Cannot reach the presence store for a consistent read; try again.", time.Second, err)
	}
	if err := a.d.Stream.WaitApplied(ctx, last); err != nil {
		return apierr.Unavailable("This node has not caught up with the presence store; try again.", time.Second,
			fmt.Errorf("waiting for sequence %d (applied %d): %w", last, a.d.Presence.AppliedSeq(), err))
	}
	return nil
}
