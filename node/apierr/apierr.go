// Package apierr is the error the presence service answers a client with:
// a kind, a message meant for the client and, for some kinds, when to retry.
// It knows nothing of HTTP: node/httpapi holds the one table that turns a
// kind into a status code and a Matrix errcode, so that authentication and
// the handlers can say what went wrong without choosing how it is sent.
package apierr

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Kind classifies an error for the client.
type Kind int

// The kinds of error the API answers with.
const (
	KindInternal Kind = iota
	KindMissingToken
	KindUnknownToken
	KindForbidden
	KindNotFound
	KindUnrecognized
	KindMethodNotAllowed
	KindNotJSON
	KindBadJSON
	KindMissingParam
	KindInvalidParam
	KindTooLarge
	KindLimitExceeded
	KindUnavailable
)

// Error is an error with a client-facing kind and message. Err, when set, is
// the underlying cause: it is logged, never shown to the client.
type Error struct {
	Kind    Kind
	Message string
	// RetryAfter tells the client when to try again (0: not said).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind k with a formatted client message.
func Errorf(k Kind, format string, a ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, a...)}
}

// Unavailable is a temporary failure that tells the client when to retry.
func Unavailable(msg string, retryAfter time.Duration, cause error) *Error {
	return &Error{Kind: KindUnavailable, Message: msg, RetryAfter: retryAfter, Err: cause}
}

// LimitExceeded is a refusal by a rate limit, telling the client when to
// retry (at least a millisecond from now).
func LimitExceeded(msg string, wait time.Duration) *Error {
	return &Error{Kind: KindLimitExceeded, Message: msg, RetryAfter: max(wait, time.Millisecond)}
}

// KindOf returns the kind of err, and false when err is not an *Error.
func KindOf(err error) (Kind, bool) {
	var e *Error
	if !errors.As(err, &e) {
		return KindInternal, false
	}
	return e.Kind, true
}

// Truncate shortens s to at most n bytes (on a UTF-8 boundary, marked with
// an ellipsis) for echoing client input in a message or a log line.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
