package main

import (
	"fmt"
	"strings"
	"syscall"
	"time"
)

// cpuTime is the user plus system CPU time a process has used so far, 0
// when it cannot be read (see cpuTime in fleetnode.go).
func (p *proc) cpuTime() time.Duration {
	if p == nil {
		return 0
	}
	d, _ := p.cpu()
	return d
}

// selfCPU is the harness's own CPU time: the load tool's, during a load.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures the CPU time the processes serving a load (the
// service and its nats-server) and the load tool itself use during it, so
// that a result can say where each request's CPU went.
type cpuMeter struct {
	procs []*proc
	start []time.Duration
	self  time.Duration
	t0    time.Time
}

func startCPU(procs ...*proc) *cpuMeter {
	m := &cpuMeter{procs: procs, t0: time.Now(), self: selfCPU()}
	for _, p := range procs {
		m.start = append(m.start, p.cpuTime())
	}
	return m
}

// cpuUse is the CPU a load used per request, by process.
type cpuUse struct {
	names []string
	perOp []time.Duration
}

// stop ends the measurement of a load that answered ops requests a second
// for the whole time since startCPU (warm-up included, at the same rate).
func (m *cpuMeter) stop(rate float64) cpuUse {
	ops := rate * time.Since(m.t0).Seconds()
	var u cpuUse
	if ops <= 0 {
		return u
	}
	per := func(d time.Duration) time.Duration { return time.Duration(float64(d) / ops) }
	for i, p := range m.procs {
		if p == nil {
			continue
		}
		u.names = append(u.names, p.name)
		u.perOp = append(u.perOp, per(p.cpuTime()-m.start[i]))
	}
	u.names = append(u.names, "load tool")
	u.perOp = append(u.perOp, per(selfCPU()-m.self))
	return u
}

func (u cpuUse) String() string {
	if len(u.names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("CPU per request:")
	for i, n := range u.names {
		fmt.Fprintf(&b, " %s %.1fµs", n, float64(u.perOp[i])/float64(time.Microsecond))
	}
	return b.String()
}
