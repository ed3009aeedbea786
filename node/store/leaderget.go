package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
)

// LatestOf asks the stream leader for userID's latest event (found false
// when the stream holds none). It goes to the leader through
// $JS.API.STREAM.MSG.GET, not a direct get, which any replica may answer
// from its own store. A consistent read compares it with the projection:
// after a change of leader, a replica that a node's consumer reads from
// can hold another history than the leader's, and the leader's is the
// one acknowledged writes are in.
func (s *Store) LatestOf(ctx context.Context, userID string) (seq uint64, storedAt time.Time, ev events.Event, found bool, err error) {
	if !s.nc.IsConnected() {
		return 0, time.Time{}, events.Event{}, false, ErrNotConnected
	}
	req, _ := json.Marshal(struct {
		LastBySubject string `json:"last_by_subj"`
	}{events.Subject(s.cfg.SubjectPrefix, userID)})
	msg, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+s.cfg.Stream, req)
	if err != nil {
		return 0, time.Time{}, events.Event{}, false, fmt.Errorf("stream message get: %w", err)
	}
	var resp struct {
		Error   *jetstream.APIError `json:"error"`
		Message *struct {
			Seq  uint64    `json:"seq"`
			Data []byte    `json:"data"`
			Time time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, time.Time{}, events.Event{}, false, fmt.Errorf("stream message get: %w", err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return 0, time.Time{}, events.Event{}, false, nil
		}
		return 0, time.Time{}, events.Event{}, false, fmt.Errorf("stream message get: %w", resp.Error)
	}
	if resp.Message == nil {
		return 0, time.Time{}, events.Event{}, false, errors.New("stream message get: empty answer")
	}
	ev, err = events.Decode(resp.Message.Data)
	if err != nil {
		return 0, time.Time{}, events.Event{}, false, fmt.Errorf("stream message %d: %w", resp.Message.Seq, err)
	}
	return resp.Message.Seq, resp.Message.Time, ev, true, nil
}

// Resync replaces the follower's consumer, for a caller that found the
// projection disagreeing with the stream leader.
func (s *Store) Resync() {
	if s.follower != nil {
		s.follower.kick()
	}
}
