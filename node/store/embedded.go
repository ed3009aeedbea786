package store

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embeddedServer is the single-binary default: an in-process nats-server
// with JetStream storing under a data directory that it holds locked.
type embeddedServer struct {
	*server.Server
	lock *os.File
	// storeFailed is when (Unix nanoseconds) the server last logged that
	// it failed to write a message to its store.
	storeFailed *atomic.Int64
	// stopWatch ends keepJetStream, which closes watchDone.
	stopWatch, watchDone chan struct{}
}

// stop shuts the server down and releases the data directory.
func (e *embeddedServer) stop() {
	close(e.stopWatch)
	<-e.watchDone
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
	storeFailed := &atomic.Int64{}
	srv.SetLoggerV2(natsLogger{log: log.With("component", "nats-server"), storeFailed: storeFailed}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		lock.Close()
		return nil, fmt.Errorf("embedded nats-server did not become ready (data dir %s)", dataDir)
	}
	e := &embeddedServer{Server: srv, lock: lock, storeFailed: storeFailed, stopWatch: make(chan struct{}), watchDone: make(chan struct{})}
	go e.keepJetStream(opts.StoreDir, log.With("component", "embedded-nats"))
	return e, nil
}

// natsLogger passes nats-server's log lines to slog, and notes when the
// server failed to write its store (keepJetStream acts on it).
type natsLogger struct {
	log         *slog.Logger
	storeFailed *atomic.Int64
}

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "failed to store a msg") && l.storeFailed != nil {
		l.storeFailed.Store(time.Now().UnixNano())
	}
	l.log.Error(msg)
}
func (l natsLogger) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any) {}
