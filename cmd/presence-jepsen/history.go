package main

import (
	"encoding/json"
	"os"
	"sync"
	"time"
)

// Kinds of operation in a history.
const (
	opPut   = "put"   // PUT status_msg=value
	opGet   = "get"   // GET ?consistent=true
	opRYW   = "ryw"   // plain GET on the node that just acknowledged the client's PUT
	opFinal = "final" // consistent GET on each node after healing
)

// Outcomes of an operation.
const (
	statusOK      = "ok"
	statusFail    = "fail"    // known not to have happened (PUT) or no answer to use (GET)
	statusUnknown = "unknown" // a PUT that may or may not have happened: timed out, 503, no answer
)

// op is one recorded operation. Times are nanoseconds since the run began.
type op struct {
	ID     int    `json:"id"`
	Client int    `json:"client"`
	Node   int    `json:"node"`
	User   string `json:"user"`
	Kind   string `json:"kind"`
	Value  string `json:"value"` // written (put) or read (get, ryw, final; "" for no state)
	Call   int64  `json:"call"`
	Return int64  `json:"return"`
	Status string `json:"status"`
	HTTP   int    `json:"http,omitempty"`
	Err    string `json:"err,omitempty"`
	// After is, for a ryw read, the ID of the PUT it follows.
	After int `json:"after,omitempty"`
}

// history is every operation of a run, safe for concurrent recording.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []op
}

func newHistory(start time.Time) *history { return &history{start: start} }

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

// add records o, giving it the next ID, and returns that ID.
func (h *history) add(o op) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	o.ID = len(h.ops) + 1
	h.ops = append(h.ops, o)
	return o.ID
}

func (h *history) snapshot() []op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]op(nil), h.ops...)
}

// historyFile is the JSON form of a run: what happened and what was done.
type historyFile struct {
	Seed   int64        `json:"seed"`
	Ops    []op         `json:"ops"`
	Faults []faultEvent `json:"faults"`
}

func writeHistoryFile(path string, hf historyFile) error {
	b, err := json.MarshalIndent(hf, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func readHistoryFile(path string) (historyFile, error) {
	var hf historyFile
	b, err := os.ReadFile(path)
	if err != nil {
		return hf, err
	}
	return hf, json.Unmarshal(b, &hf)
}
