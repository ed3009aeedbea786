package main

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

var bytesPerUser = regexp.MustCompile(`([0-9.]+) bytes/user`)

// projectionBench runs the projection's memory benchmark (1M users with
// 24-byte IDs, the heap held after two GCs): the node's metrics do not
// expose the projection's size, and its resident memory includes the Go
// runtime and garbage.
func (r *run) projectionBench(ctx context.Context) {
	r.logf("projection: go test -run XXX -bench MemoryPerUser -benchtime 1x ./projection/")
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "XXX", "-bench", "MemoryPerUser", "-benchtime", "1x", "./projection/")
	cmd.Dir = r.repo
	out, err := cmd.CombinedOutput()
	m := bytesPerUser.FindSubmatch(out)
	if err != nil || m == nil {
		r.res.projectionNote = "benchmark failed: " + strings.TrimSpace(lastLine(string(out)))
		return
	}
	r.res.projection, _ = strconv.ParseFloat(string(m[1]), 64)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
