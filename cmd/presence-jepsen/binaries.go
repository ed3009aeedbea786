package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaries are the programs under test, built from this module: the presence
// node and a nats-server of the version in go.mod.
type binaries struct {
	presenced  string
	natsServer string
}

// buildBinaries builds both into dir. It runs from the module root, which it
// finds by asking the go tool. A non-empty presenced is used as it is
// instead of building one (to test another build of the node).
func buildBinaries(dir, presenced string) (binaries, error) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return binaries{}, fmt.Errorf("find module root (run from the presenced checkout): %w", err)
	}
	b := binaries{presenced: filepath.Join(dir, "presenced"), natsServer: filepath.Join(dir, "nats-server")}
	targets := []struct{ out, pkg string }{{b.natsServer, "github.com/nats-io/nats-server/v2"}}
	if presenced != "" {
		b.presenced = presenced
	} else {
		targets = append(targets, struct{ out, pkg string }{b.presenced, "./cmd/presenced"})
	}
	for _, t := range targets {
		cmd := exec.Command("go", "build", "-o", t.out, t.pkg)
		cmd.Dir = strings.TrimSpace(string(root))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return binaries{}, fmt.Errorf("go build %s: %w", t.pkg, err)
		}
	}
	return b, nil
}
