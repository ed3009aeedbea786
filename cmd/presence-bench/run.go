package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// run is one invocation of the harness: its work directory, binaries,
// processes and results.
type run struct {
	cfg   *config
	repo  string
	dir   string
	bins  binaries
	procs *procSet
	out   io.Writer // the table
	log   io.Writer // progress
	t0    time.Time
	res   results
}

func newRun(cfg *config, out, log io.Writer) (*run, error) {
	repo, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dir := cfg.workdir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "presence-bench-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	return &run{cfg: cfg, repo: repo, dir: dir, procs: &procSet{dir: dir}, out: out, log: log, t0: time.Now()}, nil
}

func (r *run) close() {
	r.procs.stopAll()
	if r.cfg.keep || r.cfg.workdir != "" {
		r.logf("work directory kept: %s", r.dir)
		return
	}
	os.RemoveAll(r.dir)
}

func (r *run) logf(format string, a ...any) {
	fmt.Fprintf(r.log, "[%6.1fs] %s\n", time.Since(r.t0).Seconds(), fmt.Sprintf(format, a...))
}

// execute runs the phases and prints the table; failed reports whether a
// target failed.
func (r *run) execute(ctx context.Context) (failed bool, err error) {
	r.res.loadBefore = loadAverage()
	r.logf("building into %s", r.dir)
	if r.bins, err = build(ctx, r.repo, r.dir, r.cfg.cpuprofile != ""); err != nil {
		return false, err
	}
	if r.cfg.cpuprofile != "" {
		if err := os.MkdirAll(r.cfg.cpuprofile, 0o755); err != nil {
			return false, err
		}
	}
	if r.cfg.runs("get") || r.cfg.runs("put") || r.cfg.runs("mix") {
		if err := r.singleNode(ctx); err != nil {
			return false, fmt.Errorf("single node: %w", err)
		}
	}
	if r.cfg.runs("visibility") {
		if err := r.visibility(ctx); err != nil {
			return false, fmt.Errorf("visibility: %w", err)
		}
	}
	if r.cfg.runs("replay") {
		if err := r.coldStart(ctx); err != nil {
			return false, fmt.Errorf("cold start: %w", err)
		}
	}
	if r.cfg.runs("projection") {
		r.projectionBench(ctx)
	}
	if r.cfg.runs("fleet") {
		if err := r.fleet(ctx); err != nil {
			return false, fmt.Errorf("fleet: %w", err)
		}
	}
	r.res.loadAfter = loadAverage()
	return r.report(), nil
}

// loadAverage is the 1, 5 and 15 minute load averages, as uptime prints them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
