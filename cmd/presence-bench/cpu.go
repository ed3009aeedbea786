package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux the harness runs on).
const clockTicks = 100

// cpuTime is the user plus system CPU time a process has used so far
// (Linux /proc), 0 when it cannot be read.
func (p *proc) cpuTime() time.Duration {
	if p == nil {
		return 0
	}
	return procCPU(p.cmd.Process.Pid)
}

func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are plain numbers: utime and stime are fields
	// 14 and 15, the 12th and 13th after it.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / clockTicks
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
