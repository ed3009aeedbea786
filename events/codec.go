package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrUnknownVersion is returned for an event written with a newer schema
// version than this build understands. Readers skip such events (and count
// them) rather than guess at their meaning.
var ErrUnknownVersion = errors.New("events: unknown schema version")

// ErrMalformed is returned for data that is not a valid event.
var ErrMalformed = errors.New("events: malformed event")

// Encode returns the JSON form of e. It refuses an event that would not decode.
func Encode(e Event) ([]byte, error) {
	if e.V == 0 {
		e.V = SchemaVersion
	}
	if e.V > SchemaVersion {
		return nil, fmt.Errorf("%w: %d", ErrUnknownVersion, e.V)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// Decode parses data as an event. An event of a newer schema version is
// reported as ErrUnknownVersion even when the rest of its shape has changed
// so much that it does not parse as this version.
func Decode(data []byte) (Event, error) {
	e, ok := decodeFast(data)
	if !ok {
		e = Event{}
		if err := json.Unmarshal(data, &e); err != nil {
			return Event{}, decodeError(data, err)
		}
	}
	if e.V > SchemaVersion {
		return Event{}, fmt.Errorf("%w: %d", ErrUnknownVersion, e.V)
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// decodeError classifies data that encoding/json rejected: a newer schema
// version is reported as such even when its shape no longer parses as this one.
func decodeError(data []byte, err error) error {
	var head struct {
		V int `json:"v"`
	}
	if json.Unmarshal(data, &head) == nil && head.V > SchemaVersion {
		return fmt.Errorf("%w: %d", ErrUnknownVersion, head.V)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}
