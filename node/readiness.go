package node

import (
	"fmt"
	"time"
)

// readiness reports whether the node should receive traffic, and why not.
func (n *Node) readiness() (bool, string) {
	switch {
	case n.stopping.Load():
		return false, "shutting down"
	case !n.store.Connected():
		return false, "not connected to NATS"
	case !n.store.CaughtUp():
		return false, "replaying the stream"
	}
	if behind, staleness := n.store.Behind(); behind {
		return false, fmt.Sprintf("behind the stream (last known current %s ago)", staleness.Round(time.Millisecond))
	}
	return true, ""
}

// health is the node's state as node/httpapi sees it.
type health struct{ n *Node }

func (h health) Serving() bool             { return h.n.store.CaughtUp() }
func (h health) Readiness() (bool, string) { return h.n.readiness() }
