package validate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The figures the sizing rule starts from (docs/performance.md) and the
// rule itself (deploy/kubernetes/README.md, "Sizing").
const (
	projectionBytesPerUser        = 59       // BenchmarkMemoryPerUser, 1,000,000 users
	replaySecondsPerMUsers        = 2.85     // BenchmarkReplay/settled, 2 cores
	memoryBaseline                = 96 << 20 // runtime + --max-connections buffers
	gcHeadroom                    = 2        // GOGC=100: the heap may grow to twice the live data
	startupReplayFactor           = 20       // the startup probe allows 20 times the measured replay
	sizedForAnnotation            = "presenced/sized-for-users"
	minShutdownMargin             = 5 * time.Second // NATS drain and exit after the HTTP shutdown
	goMemLimitLow, goMemLimitHigh = 0.85, 0.95      // GOMEMLIMIT as a share of limits.memory
)

// The presenced Deployment's memory, startup probe and GOMEMLIMIT follow
// the sizing rule for the number of users it says it is sized for.
func TestResourcesFollowSizingRule(t *testing.T) {
	for _, overlay := range overlayNames(t) {
		t.Run(overlay, func(t *testing.T) {
			d := decodeOverlay(t, overlay)
			dep, c := presencedContainer(t, d)
			users, err := strconv.ParseInt(dep.Annotations[sizedForAnnotation], 10, 64)
			if err != nil || users <= 0 {
				t.Fatalf("Deployment presenced: annotation %s = %q: want a number of users", sizedForAnnotation, dep.Annotations[sizedForAnnotation])
			}
			limit, ok := c.Resources.Limits[corev1.ResourceMemory]
			if !ok {
				t.Fatal("no memory limit")
			}
			request := c.Resources.Requests[corev1.ResourceMemory]
			if request.Cmp(limit) != 0 {
				t.Errorf("memory request %s differs from limit %s: a node cannot give memory back", request.String(), limit.String())
			}
			need := int64(memoryBaseline) + gcHeadroom*users*projectionBytesPerUser
			if limit.Value() < need {
				t.Errorf("memory limit %s < %d MiB, the rule's figure for %d users", limit.String(), need>>20, users)
			}
			if c.Resources.Requests.Cpu().IsZero() {
				t.Error("no CPU request")
			}

			gml, err := parseGoMemLimit(env(d, c)["GOMEMLIMIT"])
			if err != nil {
				t.Fatalf("GOMEMLIMIT: %v", err)
			}
			share := float64(gml) / float64(limit.Value())
			if share < goMemLimitLow || share > goMemLimitHigh {
				t.Errorf("GOMEMLIMIT is %.0f %% of the memory limit, want %.0f-%.0f %%", 100*share, 100*goMemLimitLow, 100*goMemLimitHigh)
			}

			p := c.StartupProbe
			if p == nil {
				t.Fatal("no startupProbe")
			}
			budget := time.Duration(p.InitialDelaySeconds+p.PeriodSeconds*p.FailureThreshold) * time.Second
			replay := time.Duration(replaySecondsPerMUsers * float64(users) / 1e6 * float64(time.Second))
			if budget < startupReplayFactor*replay {
				t.Errorf("startupProbe allows %v, less than %d x the measured replay of %d users (%v)", budget, startupReplayFactor, users, replay)
			}
		})
	}
}

// terminationGracePeriodSeconds covers the preStop sleep, --shutdown-delay,
// --shutdown-timeout and a margin for draining NATS: the kubelet never
// kills a node that is still finishing requests.
func TestShutdownFitsGracePeriod(t *testing.T) {
	for _, overlay := range overlayNames(t) {
		t.Run(overlay, func(t *testing.T) {
			d := decodeOverlay(t, overlay)
			dep, c := presencedContainer(t, d)
			e := env(d, c)
			var total time.Duration
			for _, name := range []string{"PRESENCE_SHUTDOWN_DELAY", "PRESENCE_SHUTDOWN_TIMEOUT"} {
				v, err := time.ParseDuration(e[name])
				if err != nil {
					t.Fatalf("%s=%q: %v", name, e[name], err)
				}
				total += v
			}
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
				t.Fatal("no preStop sleep")
			}
			total += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			grace := time.Duration(deref(dep.Spec.Template.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
			if grace < total+minShutdownMargin {
				t.Errorf("terminationGracePeriodSeconds %v < preStop + shutdown delay + shutdown timeout (%v) + %v", grace, total, minShutdownMargin)
			}
		})
	}
}

// parseGoMemLimit reads the Go runtime's GOMEMLIMIT syntax: bytes, or a
// number with a B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil || v <= 0 || v > math.MaxInt64>>u.shift {
				return 0, fmt.Errorf("%q is not a memory limit", s)
			}
			return v << u.shift, nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a memory limit", s)
	}
	return v, nil
}
