package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// binaries are the programs a run starts, built from this module.
type binaries struct {
	presenced, natsServer, bareget, bareput, barereplay string
}

// pprofOverlay is added to cmd/presenced at build time (go build -overlay)
// when profiles are asked for: it serves net/http/pprof on the address in
// PRESENCED_BENCH_PPROF, on a listener of its own. The node has no pprof
// endpoint, and the measured code is left as it is: the file only adds a
// listener, which is idle unless a profile is being taken.
const pprofOverlay = `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("PRESENCED_BENCH_PPROF")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, http.DefaultServeMux)
}
`

// build compiles presenced, nats-server (from the module that presenced
// embeds, at the version of go.mod) and the baselines into dir.
func build(ctx context.Context, repo, dir string, pprof bool) (binaries, error) {
	bin := filepath.Join(dir, "bin")
	b := binaries{
		presenced:  filepath.Join(bin, "presenced"),
		natsServer: filepath.Join(bin, "nats-server"),
		bareget:    filepath.Join(bin, "bareget"),
		bareput:    filepath.Join(bin, "bareput"),
		barereplay: filepath.Join(bin, "barereplay"),
	}
	args := []string{"build", "-o", bin + "/"}
	if pprof {
		src := filepath.Join(dir, "pprof_overlay.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
			return b, err
		}
		ov, _ := json.Marshal(map[string]map[string]string{"Replace": {
			filepath.Join(repo, "cmd", "presenced", "zz_bench_pprof.go"): src,
		}})
		ovPath := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
			return b, err
		}
		args = append(args, "-overlay", ovPath)
	}
	args = append(args, "./cmd/presenced", "./scripts/baseline/bareget", "./scripts/baseline/bareput",
		"./scripts/baseline/barereplay", "github.com/nats-io/nats-server/v2")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		return b, fmt.Errorf("go %v: %v\n%s", args, err, out)
	}
	return b, nil
}

// repoRoot is the directory of the go.mod above the working directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := string(out[:len(out)-1])
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run presence-bench inside the presenced module")
	}
	return filepath.Dir(mod), nil
}
