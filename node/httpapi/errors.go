package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/presenced/presenced/node/apierr"
)

// errorTable is the single mapping from error kind to HTTP status and
// Matrix errcode.
var errorTable = map[apierr.Kind]struct {
	status  int
	errcode string
}{
	apierr.KindInternal:         {http.StatusInternalServerError, "M_UNKNOWN"},
	apierr.KindMissingToken:     {http.StatusUnauthorized, "M_MISSING_TOKEN"},
	apierr.KindUnknownToken:     {http.StatusUnauthorized, "M_UNKNOWN_TOKEN"},
	apierr.KindForbidden:        {http.StatusForbidden, "M_FORBIDDEN"},
	apierr.KindNotFound:         {http.StatusNotFound, "M_NOT_FOUND"},
	apierr.KindUnrecognized:     {http.StatusNotFound, "M_UNRECOGNIZED"},
	apierr.KindMethodNotAllowed: {http.StatusMethodNotAllowed, "M_UNRECOGNIZED"},
	apierr.KindNotJSON:          {http.StatusBadRequest, "M_NOT_JSON"},
	apierr.KindBadJSON:          {http.StatusBadRequest, "M_BAD_JSON"},
	apierr.KindMissingParam:     {http.StatusBadRequest, "M_MISSING_PARAM"},
	apierr.KindInvalidParam:     {http.StatusBadRequest, "M_INVALID_PARAM"},
	apierr.KindTooLarge:         {http.StatusRequestEntityTooLarge, "M_TOO_LARGE"},
	apierr.KindLimitExceeded:    {http.StatusTooManyRequests, "M_LIMIT_EXCEEDED"},
	apierr.KindUnavailable:      {http.StatusServiceUnavailable, "M_UNKNOWN"},
}

// errorBody is the Matrix standard error body, with retry_after_ms for 429.
type errorBody struct {
	Errcode      string `json:"errcode"`
	Error        string `json:"error"`
	RetryAfterMS *int64 `json:"retry_after_ms,omitempty"`
}

// writeError is the one function that answers an error: err as a Matrix
// error, with Retry-After when the error says when to retry. An error that
// is not an *apierr.Error is a bug or an unexpected failure: the client gets
// a generic 500.
func writeError(w http.ResponseWriter, err error) (status int, errcode string) {
	var e *apierr.Error
	if !errors.As(err, &e) {
		e = &apierr.Error{Kind: apierr.KindInternal, Message: "Internal server error", Err: err}
	}
	row, ok := errorTable[e.Kind]
	if !ok {
		row = errorTable[apierr.KindInternal]
	}
	body := errorBody{Errcode: row.errcode, Error: e.Message}
	if e.RetryAfter > 0 {
		secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		if e.Kind == apierr.KindLimitExceeded {
			ms := int64((e.RetryAfter + time.Millisecond - 1) / time.Millisecond) // rounded up: waiting that long suffices
			body.RetryAfterMS = &ms
		}
	}
	writeJSON(w, row.status, body)
	return row.status, row.errcode
}
