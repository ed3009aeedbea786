package events

import "fmt"

// SchemaVersion is the event schema version this build writes. Decoders accept
// every version up to and including it; a newer version is reported as
// ErrUnknownVersion so that a reader can skip it instead of misreading it.
const SchemaVersion = 1

// Presence is one of the three presence states of the Matrix specification.
type Presence string

// The presence states of the Matrix specification.
const (
	Online      Presence = "online"
	Unavailable Presence = "unavailable"
	Offline     Presence = "offline"
)

// Valid reports whether p is one of the states of the specification. The
// comparison is case-sensitive, as the specification's enum is.
func (p Presence) Valid() bool {
	switch p {
	case Online, Unavailable, Offline:
		return true
	}
	return false
}

// canonical returns the package's own copy of a valid state, so that a
// decoded event does not keep its message's memory alive through it.
func (p Presence) canonical() Presence {
	switch p {
	case Online:
		return Online
	case Unavailable:
		return Unavailable
	}
	return Offline
}

// Event is one presence update: the complete state that a user set. An event
// replaces the previous state of its user; it is not a patch.
//
// The time of the update is not part of the event: it is the time JetStream
// stored the message (the stream leader's clock, the same on every replica),
// so that every node computes last_active_ago from one source of truth.
type Event struct {
	// V is the schema version (SchemaVersion when written by this build).
	V int `json:"v"`
	// UserID is the fully qualified Matrix user ID, e.g. "@alice:example.com".
	UserID string `json:"user_id"`
	// Presence is the state the user set.
	Presence Presence `json:"presence"`
	// StatusMsg is the status message; nil means none.
	StatusMsg *string `json:"status_msg,omitempty"`
	// Origin names the node (or other fleet component) that published the event.
	Origin string `json:"origin,omitempty"`
	// RequestID identifies the request that produced the event. It is also the
	// Nats-Msg-Id of the publish, which makes retried publishes idempotent.
	RequestID string `json:"request_id,omitempty"`
}

// Validate checks the fields every reader relies on.
func (e *Event) Validate() error {
	if e.V < 1 {
		return fmt.Errorf("%w: schema version %d", ErrMalformed, e.V)
	}
	if err := ValidateUserID(e.UserID); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !e.Presence.Valid() {
		return fmt.Errorf("%w: presence %q", ErrMalformed, e.Presence)
	}
	return nil
}
