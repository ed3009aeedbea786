// Command presence-dendrite carries presence from presenced into a Dendrite
// homeserver's /sync, and Dendrite's inbound federation presence back to
// presenced. It talks to presenced only through the fleet API and to
// Dendrite only through Dendrite's NATS JetStream; see docs/integration.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/presenced/presenced/cmd/presence-dendrite/bridge"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintf(stdout, "presence-dendrite %s\n", version)
		return 0
	}
	s, err := parseSettings(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "presence-dendrite: %v\n", err)
		return 2
	}
	log := newLogger(s, stderr).With("component", "presence-dendrite")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, s, log); err != nil {
		log.Error("presence-dendrite failed", "err", err)
		return 1
	}
	return 0
}

// serve runs the bridge and its probe listener until ctx ends, then stops
// both: the bridge releases its lease, the listener finishes its requests.
func serve(ctx context.Context, s *settings, log *slog.Logger) error {
	feed, err := bridge.NewPresenced(s.presencedURL, s.secretFile, &http.Client{})
	if err != nil {
		return err
	}
	opts := []nats.Option{
		nats.Name("presence-dendrite " + s.bridge.Replica),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("disconnected from NATS", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }),
	}
	if s.natsCreds != "" {
		opts = append(opts, nats.UserCredentials(s.natsCreds))
	}
	nc, err := nats.Connect(s.natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", s.natsURL, err)
	}
	defer nc.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b, err := bridge.New(s.bridge, nc, feed, bridge.Options{Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b.Handler(reg), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("presence-dendrite started", "version", version, "listen", ln.Addr().String(),
		"presenced", s.presencedURL, "subject", s.bridge.Dendrite.Subject())

	runErr := b.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	_ = nc.Drain()
	log.Info("presence-dendrite stopped")
	return runErr
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
