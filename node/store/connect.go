package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// connect opens the node's NATS connection: in process to the embedded
// server, or to the external servers of cfg.NATSURLs. It reconnects forever
// (the client's default gives up after two minutes) and bounds what it
// buffers while disconnected. Connection changes are only logged: readiness
// reads the connection's state when asked.
func connect(cfg *Config, name string, embedded *server.Server, log *slog.Logger) (*nats.Conn, error) {
	// An in-process connection has no URL: the client reports its default,
	// nats://127.0.0.1:4222, where nothing may listen.
	where := func(c *nats.Conn) string {
		if embedded != nil {
			return "embedded (in process)"
		}
		return c.ConnectedUrlRedacted()
	}
	opts := []nats.Option{
		nats.Name("presenced " + name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(8 << 20),
		nats.Timeout(5 * time.Second),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil when the node closes the connection itself
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("NATS reconnected", "server", where(c))
		}),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info("NATS connected", "server", where(c))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("NATS error", "err", err)
		}),
	}
	url := strings.Join(cfg.NATSURLs, ",")
	if embedded != nil {
		opts = append(opts, nats.InProcessServer(embedded))
		url = ""
	}
	if cfg.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
	}
	if cfg.NATSTLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.NATSTLSCA))
	}
	if cfg.NATSUser != "" {
		opts = append(opts, nats.UserInfo(cfg.NATSUser, cfg.NATSPassword))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	return nc, nil
}

// waitForJetStream polls until JetStream answers, which it does only some
// time after a server (or a cluster's meta leader) has started.
func waitForJetStream(ctx context.Context, js jetstream.JetStream) error {
	delay := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("JetStream did not become available: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}
