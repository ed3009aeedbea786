package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jsm.go"
	"github.com/nats-io/jsm.go/api"
)

// The "presenced backup" and "presenced restore" subcommands copy the
// presence stream to a directory and back with JetStream's own snapshot
// and restore, through github.com/nats-io/jsm.go. A snapshot holds the
// stream's message blocks as stored, so a restored stream has the same
// sequences and, what matters for last_active_ago, the same store
// timestamps; republishing the events would stamp them anew. The directory
// is the one the nats CLI's "stream backup" writes (backup.json and the
// data archive), so either tool restores the other's backups.

// backup is "presenced backup [flags] DIR".
func backup(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, o := newBackupFlags("backup", stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: presenced backup [flags] DIR\n\n"+
			"Writes a snapshot of the presence stream to DIR (which must not hold a\n"+
			"finished backup). With --nats-url it reads from that NATS; without, it\n"+
			"opens the embedded server's store in --data-dir, which no running\n"+
			"presenced may hold.\n\n")
		fs.PrintDefaults()
	}
	dir, err := o.parse(fs, args, getenv)
	if err != nil {
		return usageError(stderr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	conn, err := o.open(ctx, true)
	if err != nil {
		fmt.Fprintf(stderr, "presenced backup: %v\n", err)
		return 1
	}
	defer conn.close()
	stream, err := conn.mgr.LoadStream(o.stream)
	if err != nil {
		fmt.Fprintf(stderr, "presenced backup: stream %s: %v\n", o.stream, err)
		return 1
	}
	progress, err := stream.SnapshotToDirectory(ctx, dir, jsm.SnapshotHealthCheck())
	if err != nil {
		fmt.Fprintf(stderr, "presenced backup: snapshot of %s: %v\n", o.stream, err)
		return 1
	}
	meta, err := readBackupMeta(dir)
	if err != nil {
		fmt.Fprintf(stderr, "presenced backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "backed up stream %s to %s: %d events, last sequence %d, %d bytes\n",
		o.stream, dir, meta.State.Msgs, meta.State.LastSeq, progress.BytesReceived())
	return 0
}

// restore is "presenced restore [flags] DIR".
func restore(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, o := newBackupFlags("restore", stderr)
	replicas := fs.Int("stream-replicas", 0, "replicas of the restored stream (0 = as in the backup)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: presenced restore [flags] DIR\n\n"+
			"Restores the presence stream from a backup in DIR into a NATS that does\n"+
			"not have the stream yet: --nats-url, or the embedded server's store in\n"+
			"--data-dir (which no running presenced may hold). Start the nodes after.\n\n")
		fs.PrintDefaults()
	}
	dir, err := o.parse(fs, args, getenv)
	if err != nil {
		return usageError(stderr, err)
	}
	if err := envInt(fs, "stream-replicas", getenv); err != nil {
		return usageError(stderr, err)
	}
	meta, err := readBackupMeta(dir)
	if err != nil {
		fmt.Fprintf(stderr, "presenced restore: %v\n", err)
		return 1
	}
	if meta.Config.Name != o.stream {
		fmt.Fprintf(stderr, "presenced restore: %s holds stream %s, not %s (see --stream)\n", dir, meta.Config.Name, o.stream)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	conn, err := o.open(ctx, false)
	if err != nil {
		fmt.Fprintf(stderr, "presenced restore: %v\n", err)
		return 1
	}
	defer conn.close()
	if known, err := conn.mgr.IsKnownStream(o.stream); err != nil {
		fmt.Fprintf(stderr, "presenced restore: %v\n", err)
		return 1
	} else if known {
		fmt.Fprintf(stderr, "presenced restore: stream %s already exists; restore only into a NATS without it\n", o.stream)
		return 1
	}
	var opts []jsm.SnapshotOption
	if *replicas > 0 {
		cfg := meta.Config
		cfg.Replicas = *replicas
		opts = append(opts, jsm.RestoreConfiguration(cfg))
	}
	_, state, err := conn.mgr.RestoreSnapshotFromDirectory(ctx, o.stream, dir, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "presenced restore: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored stream %s from %s: %d events, last sequence %d\n", o.stream, dir, state.Msgs, state.LastSeq)
	return 0
}

// readBackupMeta reads the stream configuration and state a backup
// directory describes.
func readBackupMeta(dir string) (*api.JSApiStreamRestoreRequest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, jsm.SnapshotMetaFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s holds no finished backup (no %s)", dir, jsm.SnapshotMetaFile)
		}
		return nil, err
	}
	var meta api.JSApiStreamRestoreRequest
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, jsm.SnapshotMetaFile), err)
	}
	return &meta, nil
}

func usageError(stderr io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "presenced: %v\n", err)
	return 2
}

// backupTimeout bounds a whole backup or restore.
const backupTimeout = 30 * time.Minute
