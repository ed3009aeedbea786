package main

import (
	"context"
	"fmt"
)

// tableRow is one line of the table, column by column.
type tableRow struct {
	phase, server, rate, p50, p99, p999, errors, note string
}

// fleetResults are the fleet API phases' outcomes; a phase that failed
// leaves its result nil and says why in its row.
type fleetResults struct {
	heartbeats *heartbeatResult
	feed       []*feedResult
	rows       []tableRow
}

// fleet runs the fleet API's phases, each on a node and nats-server of
// its own: sync heartbeats absorbed per CPU-second, and the change feed
// fanned out to many readers. A failed phase is reported in the table, not
// as the run's error, so the other phases' figures still print.
func (r *run) fleet(ctx context.Context) error {
	fr := &fleetResults{}
	r.res.fleet = fr
	failedRow := func(phase, what string, err error) tableRow {
		return tableRow{phase: phase, server: "presenced", note: what + ": failed: " + err.Error()}
	}
	if hb, err := r.heartbeats(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fr.rows = append(fr.rows, failedRow("fleet heartbeats", "sync heartbeats absorbed per CPU-second", err))
	} else {
		fr.heartbeats = hb
		fr.rows = append(fr.rows, heartbeatRow(hb))
	}
	feed, err := r.feedFanout(ctx)
	fr.feed = feed
	for _, res := range feed {
		fr.rows = append(fr.rows, feedRow(res))
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fr.rows = append(fr.rows, failedRow("fleet feed", fmt.Sprintf("change feed to %d readers", r.cfg.feedReaders), err))
	}
	return nil
}

// fleetTargets are the fleet phases' correctness targets: heartbeats are
// absorbed, and every reader ends with every user's last value.
func (fr *fleetResults) targets() []target {
	hb := target{name: "fleet heartbeats stored as events", want: 0}
	if h := fr.heartbeats; h != nil {
		hb.measured, hb.ok = h.stored, true
	}
	feed := target{name: "feed readers missing a last value", want: 0}
	for _, res := range fr.feed {
		feed.measured += float64(res.readers - res.current)
		feed.ok = true
	}
	return []target{hb, feed}
}
