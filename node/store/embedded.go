package store

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embeddedServer is the single-binary default: an in-process nats-server
// with JetStream storing under a data directory that it holds locked.
type embeddedServer struct {
	*server.Server
	lock *os.File
}

// stop shuts the server down and releases the data directory.
func (e *embeddedServer) stop() {
	e.Shutdown()
	e.WaitForShutdown()
	e.lock.Close()
}

// startEmbedded starts an embedded server on dataDir. It does not listen on
// any port; the node connects to it in process.
func startEmbedded(dataDir, name string, log *slog.Logger) (*embeddedServer, error) {
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: name,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "jetstream"),
		DontListen: true,
		NoSigs:     true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	srv.SetLoggerV2(natsLogger{log.With("component", "nats-server")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		lock.Close()
		return nil, fmt.Errorf("embedded nats-server did not become ready (data dir %s)", dataDir)
	}
	return &embeddedServer{Server: srv, lock: lock}, nil
}

// natsLogger passes nats-server's log lines to slog.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  {}
