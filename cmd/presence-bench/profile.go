package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// profileLoad runs load for the profile's length while taking a CPU and an
// allocation profile of node (a build with pprofOverlay). These phases are
// extra: no figure of the table comes from them.
func (r *run) profileLoad(ctx context.Context, n *presencedNode, phase string, load func(time.Duration)) {
	seconds := max(1, int(r.cfg.duration.Seconds()))
	done := r.startProfile(ctx, n, phase, seconds)
	load(time.Duration(seconds)*time.Second + 500*time.Millisecond)
	done()
}

// startProfile starts fetching /debug/pprof/profile and a delta of
// /debug/pprof/allocs over seconds from node, and returns a function that
// waits for both, writes them (and their top functions as text) to the
// profile directory.
func (r *run) startProfile(ctx context.Context, n *presencedNode, phase string, seconds int) func() {
	var wg sync.WaitGroup
	for _, kind := range []string{"profile", "allocs"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := phase + ".cpu.pprof"
			index := ""
			if kind == "allocs" {
				name, index = phase+".allocs.pprof", "-sample_index=alloc_space"
			}
			path := filepath.Join(r.cfg.cpuprofile, name)
			if err := fetchProfile(ctx, n.pprof, kind, seconds, path); err != nil {
				r.logf("profile %s: %v", name, err)
				return
			}
			args := []string{"tool", "pprof", "-top", "-nodecount=40"}
			if index != "" {
				args = append(args, index)
			}
			top, _ := exec.CommandContext(ctx, "go", append(args, r.bins.presenced, path)...).CombinedOutput()
			_ = os.WriteFile(path+".top.txt", top, 0o644)
			r.res.addProfile(path)
		}()
	}
	return wg.Wait
}

func (res *results) addProfile(path string) {
	res.mu.Lock()
	res.profiles = append(res.profiles, path)
	res.mu.Unlock()
}

// fetchProfile waits for the pprof listener, which a starting node opens
// before it connects to NATS, then fetches the profile.
func fetchProfile(ctx context.Context, addr, kind string, seconds int, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", addr, kind, seconds)
	client := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err = client.Get(url)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: status %d: %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
