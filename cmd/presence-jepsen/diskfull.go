package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// diskFullCommand runs one node with the embedded NATS server (the default,
// no --nats-url) on a small tmpfs it mounts, fills the disk, then makes it
// read-only, and checks: PUTs are refused with 503 and Retry-After (and the
// log says why), GETs keep being served, PUTs succeed again once space
// returns, and after a restart every acknowledged value is there. It needs
// root (mount); the tmpfs is unmounted whatever the outcome.
func diskFullCommand(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("diskfull", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs, 0, 10)
	size := fs.String("size", "8m", "size of the tmpfs the data dir lives on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := workDir("presence-jepsen-diskfull-")
	if err != nil {
		return err
	}
	defer cleanupUnless(cf.keep, dir)
	bins, err := buildBinaries(dir, cf.presenced)
	if err != nil {
		return err
	}
	mnt := filepath.Join(dir, "disk")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+*size, "tmpfs", mnt).CombinedOutput(); err != nil {
		return fmt.Errorf("mount a tmpfs (needs root): %v: %s", err, out)
	}
	defer func() { _ = exec.Command("umount", "-l", mnt).Run() }()
	// The data dir lives on a fault-injecting loopback of the tmpfs: a full
	// tmpfs fails its writes with ENOSPC, and the loopback can fail them
	// with EROFS while the server holds its files open.
	backing, faultMnt := filepath.Join(mnt, "backing"), filepath.Join(dir, "faultfs")
	for _, d := range []string{backing, faultMnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	ffs, err := mountFaultFS(backing, faultMnt)
	if err != nil {
		return err
	}
	defer func() {
		if ffs.unmount() != nil {
			_ = exec.Command("umount", "-l", faultMnt).Run()
		}
	}()
	tokens, err := writeTokens(dir, cf.users)
	if err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	pn := &presenceNode{url: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	logPath := filepath.Join(dir, "logs", "node.log")
	pn.proc = newProcess("node", bins.presenced, logPath,
		"--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--data-dir", filepath.Join(faultMnt, "data"),
		"--tokens-file", tokens, "--server-name", serverName, "--ratelimit-per-second", "0",
		"--publish-timeout", cf.timeouts.publish.String(), "--apply-timeout", cf.timeouts.apply.String())
	if err := pn.proc.start(); err != nil {
		return err
	}
	defer pn.proc.stop(syscall.SIGKILL, time.Second)
	if err := pn.waitReady(60 * time.Second); err != nil {
		return err
	}
	api := newAPIClient(cf.timeouts.requestBound(), 4)
	acked := map[int]string{}
	var problems []string
	put := func(phase string, user, n int) answer {
		v := fmt.Sprintf("%s-%d", phase, n)
		a := api.put(context.Background(), pn.url, user, v)
		if a.err == nil && a.status == 200 {
			acked[user] = v
		}
		if err := a.contractError(); err != nil {
			problems = append(problems, phase+": "+err.Error())
		}
		return a
	}
	for u := range cf.users {
		if a := put("before", u, u); a.status != 200 {
			return fmt.Errorf("PUT before the fault: %d %s %v", a.status, a.body, a.err)
		}
	}
	for _, fault := range []string{"full", "read-only"} {
		undo, err := injectDiskFault(fault, mnt, ffs)
		if err != nil {
			problems = append(problems, fault+": "+err.Error())
			continue
		}
		refused := 0
		for i := range faultPuts {
			if a := put(fault, i%cf.users, i); a.status == 503 {
				refused++
			}
		}
		served := 0
		for u := range cf.users {
			a := api.get(context.Background(), pn.url, u, false)
			if v, ok := a.readValue(); ok && v == acked[u] {
				served++
			}
		}
		if err := undo(); err != nil {
			return err
		}
		recovered := false
		for i := 0; i < 40 && !recovered; i++ {
			recovered = put("after-"+fault, i%cf.users, i).status == 200
			if !recovered {
				time.Sleep(300 * time.Millisecond)
			}
		}
		fmt.Printf("diskfull: %s: %d/%d PUTs refused with 503, %d/%d GETs served the acknowledged value, PUTs recovered: %v\n",
			fault, refused, faultPuts, served, cf.users, recovered)
		if refused == 0 || served != cf.users || !recovered {
			problems = append(problems, fmt.Sprintf("%s: refused %d/%d, served %d/%d, recovered %v", fault, refused, faultPuts, served, cf.users, recovered))
		}
	}
	logged, _ := os.ReadFile(logPath)
	for _, want := range []string{"no space left on device", "read-only file system"} {
		if !bytes.Contains(logged, []byte(want)) {
			problems = append(problems, fmt.Sprintf("the node's log never says %q", want))
		}
	}
	// Restart: nothing acknowledged may be missing.
	pn.proc.stop(syscall.SIGTERM, 15*time.Second)
	if err := pn.proc.start(); err != nil {
		return err
	}
	if err := pn.waitReady(60 * time.Second); err != nil {
		return err
	}
	lost := 0
	for u, want := range acked {
		if v, ok := api.get(context.Background(), pn.url, u, true).readValue(); !ok || v != want {
			lost++
		}
	}
	fmt.Printf("diskfull: after restart, acked-lost %d of %d users\n", lost, len(acked))
	if lost > 0 {
		problems = append(problems, fmt.Sprintf("%d acknowledged values lost", lost))
	}
	if len(problems) > 0 {
		return fmt.Errorf("disk faults: %q (node log: %s)", problems, logPath)
	}
	return nil
}

// faultPuts is how many PUTs each disk fault is tried with.
const faultPuts = 5

// injectDiskFault fills the file system at mnt ("full") or remounts it
// read-only ("read-only"), and returns how to undo it.
func injectDiskFault(fault, mnt string, ffs *faultFS) (func() error, error) {
	switch fault {
	case "full":
		filler := filepath.Join(mnt, "filler")
		f, err := os.Create(filler)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Write(buf); err != nil {
				break // ENOSPC: the disk is full
			}
		}
		_ = f.Close()
		return func() error { return os.Remove(filler) }, nil
	case "read-only":
		ffs.readOnly.Store(true)
		return func() error { ffs.readOnly.Store(false); return nil }, nil
	}
	return nil, errors.New("unknown disk fault " + fault)
}
