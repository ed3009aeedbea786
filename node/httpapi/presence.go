package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/apierr"
	"github.com/presenced/presenced/node/fleet"
	"github.com/presenced/presenced/projection"
)

// presenceRequest is the prologue of both presence handlers: who asks
// (authenticated once) and about whom (the unescaped, validated user ID of
// the path).
func (a *API) presenceRequest(r *http.Request) (Requester, string, error) {
	who, userID, err := a.presenceTarget(r)
	if err != nil {
		return Requester{}, "", err
	}
	if err := validateTarget(userID); err != nil {
		return Requester{}, "", err
	}
	return who, userID, nil
}

// presenceTarget is presenceRequest without the check of the user ID.
func (a *API) presenceTarget(r *http.Request) (Requester, string, error) {
	who, err := a.requester(r)
	if err != nil {
		return Requester{}, "", err
	}
	escaped, _ := presencePathUserID(r)
	userID, err := unescapeUserID(r, escaped)
	if err != nil {
		return Requester{}, "", apierr.Errorf(apierr.KindInvalidParam, "User ID in the path is not validly percent-encoded.")
	}
	return who, userID, nil
}

func validateTarget(userID string) error {
	if err := events.ValidateUserID(userID); err != nil {
		return apierr.Errorf(apierr.KindInvalidParam, "Invalid user ID: %v.", err)
	}
	return nil
}

// getStatus answers GET /presence/{userId}/status from the projection, as
// read at the node's clock.
func (a *API) getStatus(w http.ResponseWriter, r *http.Request) error {
	who, userID, err := a.presenceTarget(r)
	if err != nil {
		return err
	}
	// The projection holds only user IDs that were checked when their
	// events were: an ID it holds needs no check, and one it does not hold
	// is checked before anything else answers about it.
	st, ok := a.d.Presence.Status(userID, a.d.Clock.Now(), a.d.Decay)
	if !ok {
		if err := validateTarget(userID); err != nil {
			return err
		}
	}
	if err := a.d.Policy.CheckVisible(who.UserID, userID); err != nil {
		return err
	}
	if err := a.requireServing(); err != nil {
		return err
	}
	src, err := a.consistentRead(r, userID)
	if err != nil {
		return err
	}
	if src.read {
		st, ok = src.status, src.found
	}
	if !ok {
		if a.cfg.UnknownLocalUser == UnknownLocalUserOffline && events.ServerNameOf(userID) == a.d.ServerName {
			// A user of this server who never had any state is offline,
			// with no last activity to tell (Synapse's answer, SY6).
			writeRawJSON(w, http.StatusOK, offlineJSON)
			return nil
		}
		return apierr.Errorf(apierr.KindNotFound, "No presence state for this user.")
	}
	writeRawJSON(w, http.StatusOK, appendStatusJSON(scratch(w), st))
	return nil
}

// putStatus answers PUT /presence/{userId}/status. It answers 200 only once
// the store has acknowledged the event and the local projection has applied
// it, so that a GET on this node reads the write back.
func (a *API) putStatus(w http.ResponseWriter, r *http.Request) error {
	who, userID, err := a.presenceRequest(r)
	if err != nil {
		return err
	}
	if userID != who.UserID {
		return apierr.Errorf(apierr.KindForbidden, "Can only set your own presence state.")
	}
	if err := a.d.Policy.CheckOwnServer(userID); err != nil {
		return err
	}
	if wait := a.putLimits.allow(userID); wait > 0 {
		a.d.Metrics.Rejected.WithLabelValues("put_rate").Inc()
		return apierr.LimitExceeded("Too many presence updates; slow down.", wait)
	}
	body, err := readBody(w, r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	pb, err := parsePutBody(body, a.cfg.MaxStatusMsgBytes)
	if err != nil {
		return err
	}
	if err := a.requireServing(); err != nil {
		return err
	}
	if a.f.Fleet != nil {
		if rec, ok := a.f.Records.Lookup(userID); fleet.NeedsDevices(rec, ok, who.DeviceID) {
			return a.putDevice(w, r, projection.PutCommand{UserID: userID, DeviceID: who.DeviceID, Presence: pb.Presence, StatusMsg: pb.StatusMsg})
		}
	}
	ev := events.Event{
		V:         events.SchemaVersion,
		UserID:    userID,
		Presence:  pb.Presence,
		StatusMsg: pb.StatusMsg,
		Origin:    a.d.Origin,
	}
	start := time.Now()
	seq, err := a.d.Publisher.Publish(r.Context(), ev)
	a.d.Metrics.PublishDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		a.d.Metrics.Publishes.WithLabelValues("error").Inc()
		return apierr.Unavailable("Presence store is unavailable; try again.", time.Second, err)
	}
	a.d.Metrics.Publishes.WithLabelValues("ok").Inc()
	if err := a.waitApplied(r.Context(), seq); err != nil {
		return apierr.Unavailable("The update was stored but is not yet readable on this node; try again.", time.Second, err)
	}
	if err := a.checkApplied(userID, seq); err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, emptyJSON)
	return nil
}

// waitApplied waits, at most the apply timeout, until this node's
// projection has applied seq. The follower often applies an event before
// its publisher hears the acknowledgement, and then no timer is armed.
func (a *API) waitApplied(ctx context.Context, seq uint64) error {
	if a.d.Presence.AppliedSeq() >= seq {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ApplyTimeout)
	defer cancel()
	return a.d.Stream.WaitApplied(ctx, seq)
}

// emptyJSON is the answer of a write: an empty object.
var emptyJSON = []byte(`{}`)

// checkApplied confirms, once the projection has applied sequence seq,
// that the user's state is the one stored at seq (or a later one). If it is
// older, the message at seq was not this event: the acknowledgement named a
// sequence that the stream's leader, after a change of leader, gave to
// another message. The write is then not known to be readable, so the
// answer is 503 (the client retries), never a 200 whose write a GET on this
// node would not show.
func (a *API) checkApplied(userID string, seq uint64) error {
	st, ok := a.d.Presence.Status(userID, a.d.Clock.Now(), a.d.Decay)
	if !ok || st.Seq < seq {
		var at uint64
		if ok {
			at = st.Seq
		}
		return apierr.Unavailable("The update's acknowledgement does not match the stream; try again.", time.Second,
			fmt.Errorf("acknowledged as sequence %d, but the user's state is at %d", seq, at))
	}
	return nil
}

// offlineJSON is the GET answer for a local user with no state.
var offlineJSON = []byte(`{"presence":"offline"}`)

// putDevice stores a PUT that must take the user's devices into account
// (the requester's device is known, or the user has device or remote
// state): the conditional write of the fleet API, which recomputes the
// user's state on a concurrent write instead of overwriting it.
func (a *API) putDevice(w http.ResponseWriter, r *http.Request, c projection.PutCommand) error {
	start := time.Now()
	_, err := a.f.Fleet.Put(r.Context(), c)
	a.d.Metrics.PublishDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		a.d.Metrics.Publishes.WithLabelValues("error").Inc()
		return apierr.Unavailable("Presence store is unavailable; try again.", time.Second, err)
	}
	a.d.Metrics.Publishes.WithLabelValues("ok").Inc()
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// readBody reads the request body, refusing one over limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, apierr.Errorf(apierr.KindTooLarge, "Request body is larger than %d bytes.", limit)
	}
	if n := r.ContentLength; n >= 0 {
		// net/http's body reader stops at the length it announced, so the
		// length is all there is to read, and the cap is already checked.
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, apierr.Errorf(apierr.KindNotJSON, "Could not read the request body.")
		}
		return b, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apierr.Errorf(apierr.KindTooLarge, "Request body is larger than %d bytes.", limit)
		}
		return nil, apierr.Errorf(apierr.KindNotJSON, "Could not read the request body.")
	}
	return b, nil
}

// requireServing refuses API requests until the projection has caught up
// with the stream once: before that, a GET could miss a user who exists.
func (a *API) requireServing() error {
	if !a.d.Health.Serving() {
		return apierr.Unavailable("This node is still loading presence state; try again.", time.Second, nil)
	}
	return nil
}
