package main

import (
	"sync"
	"time"
)

// results is everything a run measured, for the report.
type results struct {
	loadBefore, loadAfter string
	// get and put hold one result per round, by server (presenced, bare,
	// dendrite); mix is presenced's.
	get, put map[string][]loadResult
	mix      []loadResult
	// dendriteUsers is how many accounts Dendrite's phases used.
	dendriteUsers int
	dendriteApply *applied
	// dropped counts presenced PUTs answered 200 whose value a later GET
	// did not show; checked is how many users were checked.
	dropped, checked int
	vis              *visibilityResult
	replay           []replayResult
	projection       float64 // bytes per user from the Go benchmark; 0 if not run
	projectionNote   string
	fleet            *fleetResults // nil: not run
	mu               sync.Mutex    // guards profiles, written by profile fetches
	profiles         []string
	notes            []string
}

// applied is a PUT phase measured by what became visible: PUTs answered
// 200 during the phase, and how long until a GET of every user showed the
// user's last value.
type applied struct {
	answered     uint64
	answeredRate float64
	visibleAfter time.Duration
	missing      int
}

func (a *applied) rate() float64 { return float64(a.answered) / a.visibleAfter.Seconds() }

// visibilityResult is the 3-node phase.
type visibilityResult struct {
	maxPut loadResult
	levels []visibilityLevel
}

type visibilityLevel struct {
	percent  int
	rate     float64    // PUTs per second asked for
	put      loadResult // the PUT load on node A (probes included)
	vis      *hist      // PUT sent on A to value shown on B
	probes   int
	timedOut int
}

// replayResult is the cold start at one size.
type replayResult struct {
	users        int
	seedTook     time.Duration
	natsRecovery time.Duration
	node, raw    []time.Duration // per round
	rawCallback  []time.Duration // per round: barereplay -callback
	nodeRSS      int64           // presenced's resident memory once ready
	natsRSS      int64
	natsDisk     int64
}
