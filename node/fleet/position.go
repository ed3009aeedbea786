package fleet

import (
	"errors"
	"strconv"
	"strings"
)

// Position is a place in the change feed: the stream sequence of the last
// change a reader has seen, and the epoch of the stream it came from (the
// stream's creation time), so that a position from a recreated or restored
// stream is recognised instead of silently skipping or repeating changes.
//
// Positions are opaque to readers: they send back what they were given.
type Position struct {
	Epoch uint64 // the stream's creation time in Unix nanoseconds
	Seq   uint64 // the last stream sequence the reader has seen
}

// ErrMalformedPosition is returned by ParsePosition for a string that no
// stream could have produced.
var ErrMalformedPosition = errors.New("malformed position")

// String encodes p as "<epoch in hex>-<sequence>".
func (p Position) String() string {
	b := make([]byte, 0, 40)
	b = strconv.AppendUint(b, p.Epoch, 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, p.Seq, 10)
	return string(b)
}

// ParsePosition decodes a position made by Position.String.
func ParsePosition(s string) (Position, error) {
	e, q, ok := strings.Cut(s, "-")
	if !ok || e == "" || q == "" || len(s) > 40 {
		return Position{}, ErrMalformedPosition
	}
	epoch, err := strconv.ParseUint(e, 16, 64)
	if err != nil {
		return Position{}, ErrMalformedPosition
	}
	seq, err := strconv.ParseUint(q, 10, 64)
	if err != nil || (len(q) > 1 && q[0] == '0') || q[0] == '+' {
		return Position{}, ErrMalformedPosition
	}
	return Position{Epoch: epoch, Seq: seq}, nil
}
