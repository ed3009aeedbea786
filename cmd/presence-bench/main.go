// Command presence-bench measures presenced side by side with its floors
// and with Dendrite, and prints one table. It builds and starts everything
// it measures itself, on loopback: nats-server processes, presenced nodes
// (the binary of ./cmd/presenced), the baselines of scripts/baseline and,
// unless told otherwise, a Dendrite v0.13.8 monolith.
//
//	go run ./cmd/presence-bench                 # 10k users, 3 s phases
//	go run ./cmd/presence-bench -users 100000 -duration 10s -replay-10m
//
// Targets are printed PASS or FAIL; the exit status is 0 whatever they
// say, unless -strict is given. docs/performance.md explains the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(mainErr())
}

func mainErr() int {
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "presence-bench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := newRun(cfg, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "presence-bench: %v\n", err)
		return 1
	}
	failed, err := r.execute(ctx)
	r.close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "presence-bench: %v\n", err)
		return 1
	}
	if failed && cfg.strict {
		return 1
	}
	return 0
}
