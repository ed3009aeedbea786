package store

import (
	"math"
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
// (11 or more tokens; ADR-15). Any other shape is refused. It reads in
// about 60 ns (`go test -run XXX -bench ParseAckReply ./node/store/`).
func parseAckReply(reply string) (delivery, bool) {
	rest, ok := strings.CutPrefix(reply, "$JS.ACK.")
	if !ok {
		return delivery{}, false
	}
	// The fields wanted are the last four of the known layout, so they are
	// read from the end, once the tokens after <pending> (the newer layout's
	// random token, and any later addition) are cut off.
	n := strings.Count(rest, ".") + 1
	var after int
	switch {
	case n == 7:
	case n >= 9:
		// Tokens after <pending> are not read (the client library is as
		// lenient, for subjects that grow a token).
		after = n - 9
	default:
		return delivery{}, false
	}
	for ; after > 0; after-- {
		rest = rest[:strings.LastIndexByte(rest, '.')]
	}
	var tok [4]string // <sseq> <cseq> <tm> <pending>
	for k := len(tok) - 1; k >= 0; k-- {
		i := strings.LastIndexByte(rest, '.')
		tok[k], rest = rest[i+1:], rest[:i]
	}
	sseq, ok1 := parseDecimal(tok[0])
	tm, ok2 := parseDecimal(tok[2])
	pending, ok3 := parseDecimal(tok[3])
	if !ok1 || !ok2 || !ok3 || sseq == 0 {
		return delivery{}, false
	}
	return delivery{streamSeq: sseq, storedAt: time.Unix(0, int64(tm)), pending: pending}, true
}

// parseDecimal parses a non-empty string of ASCII digits that fits in 63
// bits. It is written out rather than strconv.ParseUint, which takes half
// as long again here, on a path every replayed message takes.
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
	return n, n <= math.MaxInt64
}
