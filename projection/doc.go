// Package projection folds the presence event stream into the current state
// of every user and answers queries on it.
//
// It is a deterministic state machine in the manner of a replicated log's FSM:
// Apply takes events in stream order, tagged with their stream sequence and
// store time, and two projections fed the same messages hold the same state
// (Digest proves it). Queries take the reader's clock as a parameter; nothing
// here reads the wall clock, performs I/O or knows about NATS.
package projection
