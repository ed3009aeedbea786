// Package bridge carries presence from presenced into a Dendrite homeserver's
// /sync and Dendrite's inbound federation presence back to presenced.
//
// It talks to presenced only through the fleet API over HTTP (the change feed
// and the federation ingest) and to Dendrite only through the JetStream
// subject Dendrite's sync consumer reads. Dendrite v0.13.8 is the reference:
// see docs/integration.md for the facts about its presence stream that this
// package relies on.
//
// One replica at a time publishes: the holder of a lease kept in a NATS KV
// bucket with a TTL, renewed by compare-and-set on its revision. The feed
// position is kept in another KV bucket and advanced only once Dendrite's
// sync consumer has acknowledged what was published for it, because
// Dendrite's presence stream is in memory and ages out after five minutes.
package bridge
