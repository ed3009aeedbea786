package bridge

import (
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/events"
)

// Dendrite's stream and consumer names, derived from its
// global.jetstream.topic_prefix the way setup/config/config_jetstream.go does
// (the prefix and the name joined with no dot).
type Dendrite struct {
	// Prefix is Dendrite's topic prefix ("Dendrite" by default).
	Prefix string
	// SyncConsumer overrides the durable name of Dendrite's sync consumer;
	// empty means the name Dendrite v0.13.8 uses.
	SyncConsumer string
}

// Stream is the name of Dendrite's presence stream. It is also the subject
// Dendrite's consumers filter on: a dotted subject ("<stream>.x") is stored
// by the stream but delivered to neither.
func (d Dendrite) Stream() string { return d.Prefix + "OutputPresenceEvent" }

// Subject is the subject presence is published on.
func (d Dendrite) Subject() string { return d.Stream() }

// SyncConsumerName is the durable pull consumer of Dendrite's sync API on the
// presence stream: the durable name "SyncAPIPresenceConsumer", prefixed, with
// the "Pull" suffix of setup/jetstream/helpers.go.
func (d Dendrite) SyncConsumerName() string {
	if d.SyncConsumer != "" {
		return d.SyncConsumer
	}
	return d.Prefix + "SyncAPIPresenceConsumerPull"
}

// The headers of a presence message, as Dendrite's sync consumer
// (syncapi/consumers/presence.go) and federation producer
// (federationapi/producers/syncapi.go) use them. The body is empty.
const (
	headerUserID       = "user_id"
	headerPresence     = "presence"
	headerLastActiveTS = "last_active_ts" // milliseconds since the epoch; required
	headerStatusMsg    = "status_msg"     // absent keeps the old message, "" clears it
	headerFromSync     = "from_sync"      // Dendrite's own sync-driven updates
	// HeaderBridge marks a message this bridge published; its value is the
	// publishing replica's name. Dendrite ignores headers it does not know.
	HeaderBridge = "presenced_bridge"
)

// Change is one entry of presenced's change feed: the whole visible state of
// a user, not a patch.
type Change struct {
	UserID          string          `json:"user_id"`
	Presence        events.Presence `json:"presence"`
	LastActiveAgo   *int64          `json:"last_active_ago,omitempty"`
	StatusMsg       *string         `json:"status_msg,omitempty"`
	CurrentlyActive *bool           `json:"currently_active,omitempty"`
}

// encodeChange builds the message that makes Dendrite store c.
//
// A change is a whole state, so status_msg is always sent: "" when the user
// has none, which clears Dendrite's copy. Dendrite drops a message without
// last_active_ts, so one is always sent: now when the feed gave no
// last_active_ago. When maxAge is positive the time is clamped to at most
// maxAge ago, because Dendrite's incremental /sync only shows rows active in
// the last five minutes: without the clamp, a user idle for longer who goes
// offline would never be shown offline to a syncing client.
func encodeChange(subject, replica string, c Change, now time.Time, maxAge time.Duration) *nats.Msg {
	active := now
	if c.LastActiveAgo != nil && *c.LastActiveAgo > 0 {
		active = now.Add(-time.Duration(*c.LastActiveAgo) * time.Millisecond)
	}
	if maxAge > 0 && now.Sub(active) > maxAge {
		active = now.Add(-maxAge)
	}
	status := ""
	if c.StatusMsg != nil {
		status = *c.StatusMsg
	}
	m := nats.NewMsg(subject)
	m.Header.Set(headerUserID, c.UserID)
	m.Header.Set(headerPresence, string(c.Presence))
	m.Header.Set(headerLastActiveTS, strconv.FormatInt(active.UnixMilli(), 10))
	m.Header.Set(headerStatusMsg, status)
	m.Header.Set(HeaderBridge, replica)
	return m
}

// skipReason says why a message on the presence subject is not forwarded to
// presenced's federation ingest; "" means it is forwarded.
type skipReason string

const (
	forward       skipReason = ""
	skipOwn       skipReason = "own"       // published by a bridge
	skipFromSync  skipReason = "from_sync" // Dendrite's own sync-driven update
	skipMalformed skipReason = "malformed" // no valid user ID, presence or time
)

// decodeInbound reads a message that Dendrite (its federation receiver)
// published, as the federation item presenced ingests and the origin server
// it came from: the domain of its user, which Dendrite has already checked
// against the transaction's origin.
func decodeInbound(h nats.Header, now time.Time) (Change, string, skipReason) {
	if _, ok := h[HeaderBridge]; ok {
		return Change{}, "", skipOwn
	}
	if fromSync, _ := strconv.ParseBool(h.Get(headerFromSync)); fromSync {
		return Change{}, "", skipFromSync
	}
	user := h.Get(headerUserID)
	if events.ValidateUserID(user) != nil {
		return Change{}, "", skipMalformed
	}
	p := events.Presence(strings.ToLower(h.Get(headerPresence)))
	if !p.Valid() {
		return Change{}, "", skipMalformed
	}
	ts, err := strconv.ParseInt(h.Get(headerLastActiveTS), 10, 64)
	if err != nil {
		// Dendrite's sync consumer drops such a message too.
		return Change{}, "", skipMalformed
	}
	c := Change{UserID: user, Presence: p}
	ago := max(now.UnixMilli()-ts, 0)
	c.LastActiveAgo = &ago
	if v, ok := h[headerStatusMsg]; ok && len(v) > 0 {
		s := v[0]
		c.StatusMsg = &s
	}
	_, origin, _ := strings.Cut(user, ":")
	return c, origin, forward
}
