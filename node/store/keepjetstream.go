package store

import (
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// minFreeBytes is the free space the data directory must have again before
// JetStream is started anew after running out of it.
const minFreeBytes = 1 << 20

// keepJetStream brings the embedded server's JetStream back after a storage
// failure. When the data directory fills up (or cannot be written), the
// server either turns JetStream off ("JetStream out of resources, will be
// DISABLED") and never turns it on again by itself, or keeps it on with a
// message block whose write error sticks, so that every later publish fails
// even once there is room again. Either way the node would refuse PUTs until
// restarted; meanwhile the projection keeps answering GETs from the state it
// holds. Once the directory has room again, this starts JetStream anew on
// the same store (stopping it first if it still runs), which reloads the
// stream from disk; the follower's consumer is then recreated and PUTs are
// stored again.
func (e *embeddedServer) keepJetStream(storeDir string, log *slog.Logger) {
	defer close(e.watchDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var failing bool
	var lastRestart time.Time
	for {
		select {
		case <-e.stopWatch:
			return
		case <-t.C:
		}
		failedAt := time.Unix(0, e.storeFailed.Load())
		broken := !e.JetStreamEnabled() || time.Since(failedAt) < 5*time.Second
		if !broken {
			if failing {
				log.Info("the data directory can be written again; presence updates are stored again")
				failing = false
			}
			continue
		}
		if !failing {
			log.Error("the data directory is full or cannot be written: PUTs are refused (503) and GETs answered from memory until it can be written again",
				"dir", storeDir)
			failing = true
		}
		if free, err := freeBytes(storeDir); err != nil || free < minFreeBytes || !writable(storeDir) || time.Since(lastRestart) < 5*time.Second {
			continue
		}
		lastRestart = time.Now()
		if e.JetStreamEnabled() {
			e.ShutdownJetStream()
		}
		// Writes that fail after this are new failures.
		e.storeFailed.Store(0)
		if err := e.EnableJetStream(&server.JetStreamConfig{StoreDir: storeDir}); err != nil {
			log.Warn("could not start JetStream again; retrying", "err", err)
			if e.JetStreamEnabled() {
				e.ShutdownJetStream()
			}
			e.storeFailed.Store(time.Now().UnixNano()) // still failing: try again
			continue
		}
		log.Info("JetStream started again on the data directory", "dir", storeDir)
	}
}

// writable reports whether a file can be created in dir now (a read-only
// disk has room but takes no writes).
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".presenced-write-check-*")
	if err != nil {
		return false
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name) == nil
}

// freeBytes is the space available to unprivileged writers under dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
