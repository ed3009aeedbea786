package nodetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSOptions returns opts with the defaults of a test server filled in
// where opts leaves them zero: loopback, a random client port, JetStream on,
// no signal handlers, no logging. StoreDir must be set by the caller (each
// server needs its own).
func NATSOptions(opts server.Options) server.Options {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	opts.JetStream = true
	opts.NoSigs = true
	if !opts.Debug && !opts.Trace {
		opts.NoLog = true
	}
	return opts
}

// StartNATS starts a nats-server with NATSOptions(opts) and waits until it
// accepts connections. The caller stops it (Shutdown, WaitForShutdown).
func StartNATS(opts server.Options) (*server.Server, error) {
	o := NATSOptions(opts)
	srv, err := server.NewServer(&o)
	if err != nil {
		return nil, fmt.Errorf("nats-server %s: %w", o.ServerName, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats-server %s did not become ready", o.ServerName)
	}
	return srv, nil
}

// RunNATS starts a nats-server with NATSOptions(opts), in a temporary store
// directory unless opts names one, and stops it when the test ends.
func RunNATS(t testing.TB, opts server.Options) *server.Server {
	t.Helper()
	if opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	srv, err := StartNATS(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}
