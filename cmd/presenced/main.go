// Command presenced serves the Matrix presence API from a NATS JetStream
// event log. It only parses configuration and runs a node.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/presenced/presenced/node"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintf(stdout, "presenced %s\n", version)
		return 0
	}
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "backup" {
		return backup(args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "restore" {
		return restore(args[1:], getenv, stdout, stderr)
	}
	s, err := parseSettings(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "presenced: %v\n", err)
		return 2
	}
	log := newLogger(s, stderr)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	authn, err := node.NewAuthenticator(s.node, log)
	if err != nil {
		fmt.Fprintf(stderr, "presenced: %v\n", err)
		return 2
	}
	// SIGHUP reloads the tokens file (the authenticator, run by the node,
	// watches it).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	opts := node.Options{Logger: log, Registerer: reg, Gatherer: reg, Authenticator: authn, Reload: hup}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("starting presenced", "version", version)
	if err := node.Run(ctx, s.node, opts); err != nil {
		log.Error("presenced failed", "err", err)
		return 1
	}
	return 0
}

func newLogger(s *settings, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.logLevel))
	hopts := &slog.HandlerOptions{Level: level}
	if s.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}
