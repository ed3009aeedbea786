// Package events owns the presence event: its type, its versioned JSON codec
// and the encoding of a Matrix user ID into a NATS subject token.
//
// The event format is a public contract (docs/events.md): other components of
// a homeserver fleet may publish presence events to the stream, so everything
// here is versioned and strict about what it accepts.
package events
