package apierr_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/node/apierr"
)

// TestKindOfWrapped: the kind survives wrapping, the cause stays out of the
// client message, and a plain error has no kind.
func TestKindOfWrapped(t *testing.T) {
	cause := errors.New("connection refused")
	err := fmt.Errorf("checking: %w", apierr.Unavailable("Try again.", time.Second, cause))
	if k, ok := apierr.KindOf(err); !ok || k != apierr.KindUnavailable {
		t.Fatalf("KindOf: %v %v", k, ok)
	}
	if !errors.Is(err, cause) {
		t.Fatal("cause not reachable with errors.Is")
	}
	var e *apierr.Error
	if !errors.As(err, &e) || e.Message != "Try again." || e.RetryAfter != time.Second {
		t.Fatalf("error: %+v", e)
	}
	if _, ok := apierr.KindOf(cause); ok {
		t.Fatal("a plain error has no kind")
	}
	if l := apierr.LimitExceeded("Slow down.", 0); l.RetryAfter != time.Millisecond || l.Kind != apierr.KindLimitExceeded {
		t.Fatalf("LimitExceeded: %+v", l)
	}
}
