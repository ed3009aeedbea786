package main

// fleetPhase is a row of the fleet API's phases. The node serves no fleet
// API yet, so each says so; when it does, the phase gets a measure
// function and -fleet runs it.
type fleetPhase struct {
	name    string
	what    string
	measure func(r *run) (value string, err error) // nil: not available
}

func fleetPhases() []fleetPhase {
	return []fleetPhase{
		{name: "fleet heartbeats", what: "sync heartbeats absorbed per second per core (no publish)"},
		{name: "fleet change feed", what: "delivery delay p99 to 1000 long-poll/SSE readers"},
	}
}

// fleetRows measures the fleet phases, or says why not.
func (r *run) fleetRows() [][3]string {
	var rows [][3]string
	for _, p := range fleetPhases() {
		v := "not available: this presenced has no fleet API"
		if p.measure != nil {
			var err error
			if v, err = p.measure(r); err != nil {
				v = "failed: " + err.Error()
			}
		}
		rows = append(rows, [3]string{p.name, p.what, v})
	}
	return rows
}
