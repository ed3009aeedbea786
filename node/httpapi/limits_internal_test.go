package httpapi

import (
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestLimitsInFlight: at most maxInFlight requests are admitted at once,
// however many try together; each admitted one counts until released, a
// refused one never; probes pass without counting; without a cap every
// request counts.
func TestLimitsInFlight(t *testing.T) {
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rejected"}, []string{"reason"})
	l := newLimits(5, 16<<10, rejected)
	var (
		mu       sync.Mutex
		releases []func()
		wg       sync.WaitGroup
	)
	for range 50 {
		wg.Go(func() {
			release, err := l.admit(httptest.NewRequest("GET", "/_matrix/client/v3/presence/x/status", nil))
			if err == nil {
				mu.Lock()
				releases = append(releases, release)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(releases) != 5 || l.inFlight.Load() != 5 {
		t.Fatalf("%d admitted, %d counted in flight; want 5", len(releases), l.inFlight.Load())
	}
	if release, err := l.admit(httptest.NewRequest("GET", "/metrics", nil)); err != nil || l.inFlight.Load() != 5 {
		t.Fatalf("probe at the cap: %v, %d in flight", err, l.inFlight.Load())
	} else {
		release()
	}
	for _, release := range releases {
		release()
	}
	if n := l.inFlight.Load(); n != 0 {
		t.Fatalf("%d in flight after every release", n)
	}

	uncapped := newLimits(0, 16<<10, rejected)
	release, err := uncapped.admit(httptest.NewRequest("GET", "/x", nil))
	if err != nil || uncapped.inFlight.Load() != 1 {
		t.Fatalf("uncapped: %v, %d in flight", err, uncapped.inFlight.Load())
	}
	release()
	if uncapped.inFlight.Load() != 0 {
		t.Fatal("uncapped: still counted after release")
	}
}
