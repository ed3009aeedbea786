package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/presenced/presenced/node/apierr"
)

// TestRetryAfterRoundsUp: retry_after_ms is never shorter than the wait the
// limiter needs, so a client that waits exactly that long is admitted;
// Retry-After (whole seconds) covers it too.
func TestRetryAfterRoundsUp(t *testing.T) {
	for wait, want := range map[time.Duration]struct {
		ms     int64
		header string
	}{
		1500*time.Millisecond + 400*time.Microsecond: {1501, "2"},
		999*time.Millisecond + time.Nanosecond:       {1000, "1"},
		2 * time.Second:                              {2000, "2"},
		time.Nanosecond:                              {1, "1"},
	} {
		w := httptest.NewRecorder()
		writeError(w, &apierr.Error{Kind: apierr.KindLimitExceeded, Message: "Too many requests", RetryAfter: wait})
		var body struct {
			RetryAfterMS int64 `json:"retry_after_ms"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if body.RetryAfterMS != want.ms || w.Header().Get("Retry-After") != want.header {
			t.Errorf("wait %s: retry_after_ms %d, Retry-After %q; want %d, %q", wait, body.RetryAfterMS, w.Header().Get("Retry-After"), want.ms, want.header)
		}
	}
}
