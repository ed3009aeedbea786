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
	presenced string
	natsServer string
}

// buildBinaries builds both into dir. It runs from the module root, which it
// finds by asking the go tool.
func buildBinaries(dir string) (binaries, error) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return binaries{}, fmt.Errorf("find module root (run from the presenced checkout): %w", err)
	}
	b := binaries{presenced: filepath.Join(dir, "presenced"), natsServer: filepath.Join(dir, "nats-server")}
	for _, t := range []struct{ out, pkg string }{
		{b.presenced, "./cmd/presenced"},
		{b.natsServer, "github.com/nats-io/nats-server/v2"},
	} {
		cmd := exec.Command("go", "build", "-o", t.out, t.pkg)
		cmd.Dir = strings.TrimSpace(string(root))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return binaries{}, fmt.Errorf("go build %s: %w", t.pkg, err)
		}
	}
	return b, nil
}
