package reqmetrics_test

import (
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/presenced/presenced/node/reqmetrics"
)

var buckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// TestExportMatchesClientLibrary: fed the same answers, the sharded
// metrics export what a prometheus.CounterVec and a
// prometheus.HistogramVec would: the same families, series, counts and
// buckets, and the same sum to the nanosecond.
func TestExportMatchesClientLibrary(t *testing.T) {
	ours := reqmetrics.New("requests_total", "Requests.", "request_duration_seconds", "Durations.", buckets)
	counts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total", Help: "Requests."}, []string{"route", "method", "code"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "request_duration_seconds", Help: "Durations.", Buckets: buckets}, []string{"route", "method"})

	answers := []struct {
		route, method string
		code          int
		took          time.Duration
	}{
		{"presence_get", "GET", 200, 80 * time.Microsecond},
		{"presence_get", "GET", 200, 100 * time.Microsecond}, // on a bound: in its bucket
		{"presence_get", "GET", 404, 3 * time.Millisecond},
		{"presence_put", "PUT", 200, 2 * time.Second},
		{"presence_put", "PUT", 503, 30 * time.Second}, // past every bound
		{"presence_put", "OPTIONS", 200, 0},
	}
	for i, a := range answers {
		for range i + 1 {
			ours.Series(a.route, a.method, a.code).Observe(a.took)
			counts.WithLabelValues(a.route, a.method, itoa(a.code)).Inc()
			durations.WithLabelValues(a.route, a.method).Observe(a.took.Seconds())
		}
	}
	got := gather(t, ours)
	want := gather(t, counts, durations)
	if len(got) != len(want) {
		t.Fatalf("%d families, want %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if g == nil || g.GetType() != w.GetType() || g.GetHelp() != w.GetHelp() || len(g.Metric) != len(w.Metric) {
			t.Fatalf("family %s: got %v, want %v", name, g, w)
		}
		byLabels := map[string]*dto.Metric{}
		for _, m := range g.Metric {
			byLabels[labels(m)] = m
		}
		for _, wm := range w.Metric {
			gm := byLabels[labels(wm)]
			if gm == nil {
				t.Fatalf("%s: no series %s", name, labels(wm))
			}
			if wc, gc := wm.GetCounter(), gm.GetCounter(); wc != nil && wc.GetValue() != gc.GetValue() {
				t.Errorf("%s%s: %v, want %v", name, labels(wm), gc.GetValue(), wc.GetValue())
			}
			if wh, gh := wm.GetHistogram(), gm.GetHistogram(); wh != nil {
				if gh.GetSampleCount() != wh.GetSampleCount() || math.Abs(gh.GetSampleSum()-wh.GetSampleSum()) > 1e-9 || len(gh.Bucket) != len(wh.Bucket) {
					t.Fatalf("%s%s: count %d sum %v, want %d %v", name, labels(wm), gh.GetSampleCount(), gh.GetSampleSum(), wh.GetSampleCount(), wh.GetSampleSum())
				}
				for i := range wh.Bucket {
					if gh.Bucket[i].GetUpperBound() != wh.Bucket[i].GetUpperBound() || gh.Bucket[i].GetCumulativeCount() != wh.Bucket[i].GetCumulativeCount() {
						t.Errorf("%s%s bucket %v: %d, want %d", name, labels(wm), wh.Bucket[i].GetUpperBound(), gh.Bucket[i].GetCumulativeCount(), wh.Bucket[i].GetCumulativeCount())
					}
				}
			}
		}
	}
}

// TestConcurrentObserve: answers counted from many goroutines at once are
// all counted, and a scrape in between never sees a count its buckets do
// not add up to.
func TestConcurrentObserve(t *testing.T) {
	m := reqmetrics.New("requests_total", "Requests.", "request_duration_seconds", "Durations.", buckets)
	s := m.Series("presence_get", "GET", 200)
	const workers, each = 8, 5000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s.Observe(time.Duration(w*each+i) * time.Microsecond)
			}
		}()
	}
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		for range 20 {
			for _, f := range gather(t, m) {
				for _, mt := range f.Metric {
					if h := mt.GetHistogram(); h != nil && h.Bucket[len(h.Bucket)-1].GetCumulativeCount() > h.GetSampleCount() {
						t.Errorf("scrape: buckets hold %d, count %d", h.Bucket[len(h.Bucket)-1].GetCumulativeCount(), h.GetSampleCount())
					}
				}
			}
		}
	}()
	wg.Wait()
	<-scraped
	if got := s.Count(); got != workers*each {
		t.Fatalf("count %d, want %d", got, workers*each)
	}
}

func gather(t *testing.T, cs ...prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func labels(m *dto.Metric) string {
	s := "{"
	for _, l := range m.Label {
		s += l.GetName() + "=" + l.GetValue() + ","
	}
	return s + "}"
}

func itoa(i int) string { return strconv.Itoa(i) }
