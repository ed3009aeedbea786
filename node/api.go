package node

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/mux"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/projection"
)

// handler is an HTTP handler that reports failure as an error, which
// serveAPI turns into a Matrix error response.
type handler func(w http.ResponseWriter, r *http.Request) error

// pathUserID returns the unescaped, validated user ID of the request path.
func pathUserID(r *http.Request) (string, error) {
	raw := mux.Vars(r)["userId"]
	userID, err := url.PathUnescape(raw)
	if err != nil {
		return "", Errorf(KindInvalidParam, "User ID in the path is not validly percent-encoded.")
	}
	if err := events.ValidateUserID(userID); err != nil {
		return "", Errorf(KindInvalidParam, "Invalid user ID: %v.", err)
	}
	return userID, nil
}

// getStatus answers GET /presence/{userId}/status from the projection, as
// read at the node's clock.
func (n *Node) getStatus(w http.ResponseWriter, r *http.Request) error {
	requester, err := n.authenticate(r)
	if err != nil {
		return err
	}
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	if err := n.checkVisible(requester, userID); err != nil {
		return err
	}
	if err := n.requireServing(); err != nil {
		return err
	}
	if err := n.consistentRead(r); err != nil {
		return err
	}
	st, ok := n.proj.Status(userID, n.clock.Now(), n.policy)
	if !ok {
		return Errorf(KindNotFound, "No presence state for this user.")
	}
	writeRawJSON(w, http.StatusOK, appendStatusJSON(make([]byte, 0, 128), st))
	return nil
}

// putStatus answers PUT /presence/{userId}/status. It answers 200 only once
// JetStream has acknowledged the event and the local projection has applied
// it, so that a GET on this node reads the write back.
func (n *Node) putStatus(w http.ResponseWriter, r *http.Request) error {
	requester, err := n.authenticate(r)
	if err != nil {
		return err
	}
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	if userID != requester {
		return Errorf(KindForbidden, "Can only set your own presence state.")
	}
	if err := n.checkOwnServer(userID); err != nil {
		return err
	}
	if wait := n.putLimits.allow(userID); wait > 0 {
		n.rejected.WithLabelValues("put_rate").Inc()
		return limitExceeded("Too many presence updates; slow down.", wait)
	}
	body, err := readBody(w, r, n.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	pb, err := parsePutBody(body, n.cfg.MaxStatusMsgBytes)
	if err != nil {
		return err
	}
	if err := n.requireServing(); err != nil {
		return err
	}
	ev := events.Event{
		V:         events.SchemaVersion,
		UserID:    userID,
		Presence:  pb.Presence,
		StatusMsg: pb.StatusMsg,
		Origin:    n.cfg.NodeName,
		RequestID: newRequestID(),
	}
	start := time.Now()
	seq, err := n.pub.publish(r.Context(), ev)
	n.metrics.publishDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		n.metrics.publishes.WithLabelValues("error").Inc()
		return unavailable("Presence store is unavailable; try again.", time.Second, err)
	}
	n.metrics.publishes.WithLabelValues("ok").Inc()
	wctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	defer cancel()
	if err := n.waiter.wait(wctx, seq); err != nil {
		return unavailable("The update was stored but is not yet readable on this node; try again.", time.Second, err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// readBody reads the request body, refusing one over limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, Errorf(KindTooLarge, "Request body is larger than %d bytes.", limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, Errorf(KindTooLarge, "Request body is larger than %d bytes.", limit)
		}
		return nil, Errorf(KindNotJSON, "Could not read the request body.")
	}
	return b, nil
}

// requireServing refuses API requests until the projection has caught up
// with the stream once: before that, a GET could miss a user who exists.
func (n *Node) requireServing() error {
	if !n.follower.caughtUp.Load() {
		return unavailable("This node is still loading presence state; try again.", time.Second, nil)
	}
	return nil
}

// healthz is the liveness probe: the process is up.
func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is the readiness probe: connected to NATS and caught up with the
// stream, and not shutting down.
func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	if ok, why := n.readiness(); !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": why})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// policy of the projection's queries.
func policyOf(cfg *Config) projection.Policy {
	return projection.Policy{IdleTimeout: cfg.IdleTimeout, OfflineTimeout: cfg.OfflineTimeout, ActiveWindow: projection.DefaultActiveWindow}
}
