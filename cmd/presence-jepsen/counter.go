package main

import (
	"fmt"
	"sync"
)

// counter tallies answers that break the API's failure contract, keeping the
// first few for the report.
type counter struct {
	mu      sync.Mutex
	n       int
	samples []string
}

const keepSamples = 10

// note checks a and counts it if it breaks the contract.
func (c *counter) note(a answer) {
	if err := a.contractError(); err != nil {
		c.add(err.Error())
	}
}

func (c *counter) add(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if len(c.samples) < keepSamples {
		c.samples = append(c.samples, what)
	}
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d %q", c.n, c.samples)
}
