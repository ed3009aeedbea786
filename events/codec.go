package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"unsafe"
)

// ErrUnknownVersion is returned for an event written with a newer schema
// version than this build understands. Readers skip such events (and count
// them) rather than guess at their meaning.
var ErrUnknownVersion = errors.New("events: unknown schema version")

// ErrMalformed is returned for data that is not a valid event.
var ErrMalformed = errors.New("events: malformed event")

// Encode returns the JSON form of e. It refuses an event that would not
// decode. It writes the lowest version that expresses e (whatever e.V says,
// as long as it is not newer than this build), so that an event needing no
// version-2 field stays readable by version-1 readers.
func Encode(e Event) ([]byte, error) {
	if e.V > SchemaVersion {
		return nil, fmt.Errorf("%w: %d", ErrUnknownVersion, e.V)
	}
	if e.V >= 0 {
		e.V = e.Version()
	}
	if len(e.Devices) == 0 {
		e.Devices = nil
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if b, ok := encodeFast(&e); ok {
		return b, nil
	}
	return json.Marshal(e)
}

// Decode parses data as an event. An event of a newer schema version is
// reported as ErrUnknownVersion even when the rest of its shape has changed
// so much that it does not parse as this version.
//
// A version-1 message is read as version-1 readers read it: fields that
// version 2 defines are ignored there like any unknown field, so every reader
// of a fleet folds it the same way. V of the result is Version(), as Encode
// would write it.
func Decode(data []byte) (Event, error) {
	return decode(data, string(data))
}

// DecodeOwned is Decode for a caller that hands data over: the event's
// strings share its memory instead of a copy, so data must not change
// afterwards. The follower decodes every message of a replay this way (the
// NATS client gives each message a buffer of its own), saving a copy and
// an allocation per event.
func DecodeOwned(data []byte) (Event, error) {
	return decode(data, unsafe.String(unsafe.SliceData(data), len(data)))
}

// decode parses data, whose text (the same bytes as a string) the event's
// strings are sliced from.
func decode(data []byte, text string) (Event, error) {
	e, ok := decodeFast(data, text)
	if !ok {
		var err error
		if e, err = decodeSlow(data); err != nil {
			return Event{}, err
		}
	}
	if e.V > SchemaVersion {
		return Event{}, fmt.Errorf("%w: %d", ErrUnknownVersion, e.V)
	}
	if e.V == 1 {
		e.dropV2()
	}
	if len(e.Devices) == 0 {
		e.Devices = nil
	}
	if e.V >= 1 {
		e.V = e.Version()
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// decodeSlow parses data with encoding/json. It is a function of its own so
// that the event it hands to encoding/json, which must live on the heap, is
// allocated only on this path and not for every event the fast path takes.
func decodeSlow(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return decodeV1(data, err)
	}
	return e, nil
}

// dropV2 clears every version-2 field.
func (e *Event) dropV2() {
	e.Kind, e.ActiveTS, e.ActiveAgo, e.Devices, e.Remote, e.CurrentlyActive = "", nil, nil, nil, false, nil
}

// eventV1 is the shape of a version-1 event, for decodeV1.
type eventV1 struct {
	V         int      `json:"v"`
	UserID    string   `json:"user_id"`
	Presence  Presence `json:"presence"`
	StatusMsg *string  `json:"status_msg,omitempty"`
	Origin    string   `json:"origin,omitempty"`
	RequestID string   `json:"request_id,omitempty"`
}

// decodeV1 handles data that encoding/json rejected as an Event (with err).
// A newer schema version is reported as such even when its shape no longer
// parses as this one. A version-1 message whose version-2 field names hold
// values of another type is still a valid version-1 event, as version-1
// readers see it: those fields are not part of it.
func decodeV1(data []byte, err error) (Event, error) {
	var head struct {
		V int `json:"v"`
	}
	if json.Unmarshal(data, &head) == nil {
		if head.V > SchemaVersion {
			return Event{}, fmt.Errorf("%w: %d", ErrUnknownVersion, head.V)
		}
		var v1 eventV1
		if head.V == 1 && json.Unmarshal(data, &v1) == nil {
			return Event{V: v1.V, UserID: v1.UserID, Presence: v1.Presence, StatusMsg: v1.StatusMsg, Origin: v1.Origin, RequestID: v1.RequestID}, nil
		}
	}
	return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
}
