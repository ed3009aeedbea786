package node

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Kind classifies an error for the client. Every error a handler returns is
// turned into an HTTP status and a Matrix errcode by the one table below.
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

// errorTable is the single mapping from error kind to HTTP status and errcode.
var errorTable = map[Kind]struct {
	status  int
	errcode string
}{
	KindInternal:         {http.StatusInternalServerError, "M_UNKNOWN"},
	KindMissingToken:     {http.StatusUnauthorized, "M_MISSING_TOKEN"},
	KindUnknownToken:     {http.StatusUnauthorized, "M_UNKNOWN_TOKEN"},
	KindForbidden:        {http.StatusForbidden, "M_FORBIDDEN"},
	KindNotFound:         {http.StatusNotFound, "M_NOT_FOUND"},
	KindUnrecognized:     {http.StatusNotFound, "M_UNRECOGNIZED"},
	KindMethodNotAllowed: {http.StatusMethodNotAllowed, "M_UNRECOGNIZED"},
	KindNotJSON:          {http.StatusBadRequest, "M_NOT_JSON"},
	KindBadJSON:          {http.StatusBadRequest, "M_BAD_JSON"},
	KindMissingParam:     {http.StatusBadRequest, "M_MISSING_PARAM"},
	KindInvalidParam:     {http.StatusBadRequest, "M_INVALID_PARAM"},
	KindTooLarge:         {http.StatusRequestEntityTooLarge, "M_TOO_LARGE"},
	KindLimitExceeded:    {http.StatusTooManyRequests, "M_LIMIT_EXCEEDED"},
	KindUnavailable:      {http.StatusServiceUnavailable, "M_UNKNOWN"},
}

// Error is an error with a client-facing kind and message. Err, when set, is
// the underlying cause: it is logged, never shown to the client.
type Error struct {
	Kind    Kind
	Message string
	// RetryAfter is sent as Retry-After (and retry_after_ms for 429).
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

// unavailable returns a 503 error that tells the client when to retry.
func unavailable(msg string, retryAfter time.Duration, cause error) *Error {
	return &Error{Kind: KindUnavailable, Message: msg, RetryAfter: retryAfter, Err: cause}
}

// errorBody is the Matrix standard error body, with retry_after_ms for 429.
type errorBody struct {
	Errcode      string `json:"errcode"`
	Error        string `json:"error"`
	RetryAfterMS *int64 `json:"retry_after_ms,omitempty"`
}

// writeError answers err as a Matrix error. An error that is not an *Error is
// a bug or an unexpected failure: the client gets a generic 500.
func writeError(w http.ResponseWriter, err error) (status int, errcode string) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Kind: KindInternal, Message: "Internal server error", Err: err}
	}
	row, ok := errorTable[e.Kind]
	if !ok {
		row = errorTable[KindInternal]
	}
	body := errorBody{Errcode: row.errcode, Error: e.Message}
	if e.RetryAfter > 0 {
		secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		if e.Kind == KindLimitExceeded {
			ms := e.RetryAfter.Milliseconds()
			body.RetryAfterMS = &ms
		}
	}
	writeJSON(w, row.status, body)
	return row.status, row.errcode
}
