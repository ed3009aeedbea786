package store

import (
	"strings"
	"time"
)

// delivery is what the follower needs from a JetStream message's reply
// subject: where the message sits in the stream, when the stream stored it
// and how many messages the consumer had left to deliver after it.
type delivery struct {
	streamSeq uint64
	storedAt  time.Time
	pending   uint64
}

// parseAckReply reads a delivery from the reply subject of a message a
// consumer delivered, without allocating: every message of a replay goes
// through it. The subject is
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//
// from older servers (9 tokens) and, from newer ones,
//
//	$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>[.<token>]
//
// (11 or more tokens; ADR-15). Any other shape is refused.
func parseAckReply(reply string) (delivery, bool) {
	rest, ok := strings.CutPrefix(reply, "$JS.ACK.")
	if !ok {
		return delivery{}, false
	}
	var tok [10]string // the tokens after $JS.ACK.
	n := 0
	for n < len(tok) {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			tok[n] = rest
			n++
			rest = ""
			break
		}
		tok[n], rest = rest[:i], rest[i+1:]
		n++
	}
	var first int // token index of <delivered>
	switch {
	case n == 7 && rest == "":
		first = 2
	case n >= 9:
		// Tokens after <pending> are not read (the client library is as
		// lenient, for subjects that grow a token).
		first = 4
	default:
		return delivery{}, false
	}
	sseq, ok1 := parseDecimal(tok[first+1])
	tm, ok2 := parseDecimal(tok[first+3])
	pending, ok3 := parseDecimal(tok[first+4])
	if !ok1 || !ok2 || !ok3 || sseq == 0 {
		return delivery{}, false
	}
	return delivery{streamSeq: sseq, storedAt: time.Unix(0, int64(tm)), pending: pending}, true
}

// parseDecimal parses a non-empty string of ASCII digits that fits in 63
// bits.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
