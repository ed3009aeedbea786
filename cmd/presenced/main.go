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
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/presenced/presenced/node"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is presenced with its arguments and its environment (as os.Environ
// gives it), writing to stdout and stderr; it returns the exit status.
func run(args []string, environ []string, stdout, stderr io.Writer) int {
	getenv := getenvOf(environ)
	if len(args) > 0 {
		switch args[0] {
		case "version":
			printVersion(stdout)
			return 0
		case "help":
			s := &settings{node: node.DefaultConfig(), logLevel: "info", logFormat: "text"}
			printUsage(newFlagSet(s, stdout))
			return 0
		case "healthcheck":
			return healthcheck(args[1:], getenv, stdout, stderr)
		case "backup":
			return backup(args[1:], getenv, stdout, stderr)
		case "restore":
			return restore(args[1:], getenv, stdout, stderr)
		}
	}
	s, err := parseSettings(args, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "presenced: %v\n", err)
		return 2
	}
	if s.showVersion {
		printVersion(stdout)
		return 0
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
	opts := node.Options{Logger: log, Registerer: reg, Gatherer: reg, Authenticator: authn, Reload: hup, Version: version}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("starting presenced", "version", version)
	if err := node.Run(ctx, s.node, opts); err != nil {
		log.Error("presenced failed", "err", err)
		return 1
	}
	return 0
}

func printVersion(w io.Writer) { fmt.Fprintf(w, "presenced %s\n", version) }

// getenvOf is os.Getenv over environ: the value of the last entry of name.
func getenvOf(environ []string) func(string) string {
	return func(name string) string {
		v := ""
		for _, kv := range environ {
			if k, val, ok := strings.Cut(kv, "="); ok && k == name {
				v = val
			}
		}
		return v
	}
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
