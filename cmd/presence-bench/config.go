package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	users        int
	conns        int
	duration     time.Duration
	warmup       time.Duration
	rounds       int
	slice        time.Duration
	mixPut       float64
	phases       []string
	replayUsers  []int
	replay10M    bool
	replayRounds int
	dendrite     string
	dendriteMax  int
	cpuprofile   string
	fleet        bool
	feedReaders  int
	feedUsers    int
	feedRate     float64
	feedModes    []string
	strict       bool
	workdir      string
	keep         bool
}

// allPhases are the phases of a run, in order.
var allPhases = []string{"get", "put", "mix", "visibility", "replay", "projection", "fleet"}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("presence-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.users, "users", 10000, "users of the GET, PUT, mix and visibility phases")
	fs.IntVar(&c.conns, "conns", 64, "client connections of the load phases")
	fs.DurationVar(&c.duration, "duration", 3*time.Second, "measured length of each load phase")
	fs.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured load before each phase")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds of each side-by-side comparison, interleaved")
	fs.DurationVar(&c.slice, "slice", time.Second, "length of one slice of the side-by-side GET and PUT comparisons: each round's -duration per server runs as slices that alternate between the servers")
	fs.Float64Var(&c.mixPut, "mix-put", 0.10, "share of PUTs in the mixed phase")
	only := fs.String("only", "", "comma-separated phases to run (default all): "+strings.Join(allPhases, ","))
	replay := fs.String("replay-users", "100000,1000000", "comma-separated user counts of the cold-start phase")
	fs.BoolVar(&c.replay10M, "replay-10m", false, "add 10,000,000 users to the cold-start phase (about 6 GB of memory and minutes of seeding)")
	fs.IntVar(&c.replayRounds, "replay-rounds", 3, "rounds of the cold-start comparison at each size")
	fs.StringVar(&c.dendrite, "dendrite", "on", "Dendrite comparison: on (build with scripts/dendrite.sh if needed), cached (only if already built), off")
	fs.IntVar(&c.dendriteMax, "dendrite-users", 1000, "most Dendrite accounts to register (registration is slow); Dendrite's phases use min(-users, this)")
	fs.StringVar(&c.cpuprofile, "cpuprofile-dir", "", "write pprof CPU and allocation profiles of the node's GET, PUT and replay paths here")
	fs.BoolVar(&c.fleet, "fleet", true, "run the fleet API phases (sync heartbeats, change feed fan-out); false is as -only without fleet")
	fs.IntVar(&c.feedReaders, "feed-readers", 1000, "concurrent change-feed readers of the fan-out phase")
	fs.IntVar(&c.feedUsers, "feed-users", 1000, "users the fan-out phase's writer writes in turn")
	fs.Float64Var(&c.feedRate, "feed-rate", 20, "PUTs per second of the fan-out phase's writer")
	modes := fs.String("feed-modes", modeLongPoll+","+modeSSE, "change-feed modes of the fan-out phase: "+modeLongPoll+", "+modeSSE)
	fs.BoolVar(&c.strict, "strict", false, "exit 1 when a target fails")
	fs.StringVar(&c.workdir, "workdir", "", "directory for data and logs (default: a new temporary directory)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.phases = allPhases
	if *only != "" {
		c.phases = nil
		for _, p := range strings.Split(*only, ",") {
			if p = strings.TrimSpace(p); !slices.Contains(allPhases, p) {
				return nil, fmt.Errorf("-only: unknown phase %q (want %s)", p, strings.Join(allPhases, ","))
			}
			c.phases = append(c.phases, p)
		}
	}
	for _, m := range strings.Split(*modes, ",") {
		if m = strings.TrimSpace(m); m != modeLongPoll && m != modeSSE {
			return nil, fmt.Errorf("-feed-modes: unknown mode %q (want %s, %s)", m, modeLongPoll, modeSSE)
		}
		c.feedModes = append(c.feedModes, m)
	}
	for _, v := range strings.Split(*replay, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-replay-users: %q is not a user count", v)
		}
		c.replayUsers = append(c.replayUsers, n)
	}
	if c.replay10M {
		c.replayUsers = append(c.replayUsers, 10_000_000)
	}
	slices.Sort(c.replayUsers)
	c.replayUsers = slices.Compact(c.replayUsers)
	switch {
	case c.users < c.conns:
		return nil, fmt.Errorf("-users %d: want at least -conns (%d), as each connection writes its own users", c.users, c.conns)
	case c.dendriteMax < c.conns:
		return nil, fmt.Errorf("-dendrite-users %d: want at least -conns (%d)", c.dendriteMax, c.conns)
	case c.conns < 1 || c.rounds < 1 || c.replayRounds < 1:
		return nil, fmt.Errorf("-conns, -rounds and -replay-rounds must be at least 1")
	case c.duration < time.Second:
		return nil, fmt.Errorf("-duration %s: want at least 1s", c.duration)
	case c.slice < 250*time.Millisecond:
		return nil, fmt.Errorf("-slice %s: want at least 250ms", c.slice)
	case c.feedReaders < 1 || c.feedUsers < 1 || c.feedRate <= 0:
		return nil, fmt.Errorf("-feed-readers, -feed-users and -feed-rate must be positive")
	case c.mixPut < 0 || c.mixPut > 1:
		return nil, fmt.Errorf("-mix-put %v: want 0 to 1", c.mixPut)
	case c.dendrite != "on" && c.dendrite != "cached" && c.dendrite != "off":
		return nil, fmt.Errorf("-dendrite %q: want on, cached or off", c.dendrite)
	}
	return c, nil
}

func (c *config) runs(phase string) bool {
	return slices.Contains(c.phases, phase) && (phase != "fleet" || c.fleet)
}

// slices is how long one slice of a side-by-side comparison runs and warms
// up, and how many slices make a round: -duration cut into the whole number
// of slices nearest to -slice long, each after -warmup but at most a quarter
// of its length.
func (c *config) slices() (length, warmup time.Duration, perRound int) {
	perRound = max(1, int((c.duration+c.slice/2)/c.slice))
	length = c.duration / time.Duration(perRound)
	return length, min(c.warmup, length/4), perRound
}
