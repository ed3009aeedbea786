// Command presence-jepsen tests a presenced cluster the Jepsen way: three
// NATS servers (JetStream, R3) and three presence nodes run as processes on
// loopback behind TCP proxies; clients record every operation while a seeded
// nemesis kills, restarts, partitions and pauses them; porcupine then checks
// each user's history against a register, and the final state of every node
// is checked for acknowledged writes it lost. See docs/reliability.md.
//
// Subcommands:
//
//	presence-jepsen [run] [flags]     the checked schedule (and the load phase)
//	presence-jepsen emptystore        a NATS server restarted with an empty store
//	presence-jepsen diskfull          the embedded default on a full or read-only disk
//	presence-jepsen check FILE        check a recorded history.json again
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"
)

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	switch cmd {
	case "run":
		err = runCommand(args, log)
	case "emptystore":
		err = emptyStoreCommand(args, log)
	case "diskfull":
		err = diskFullCommand(args, log)
	case "check":
		err = checkCommand(args)
	default:
		err = fmt.Errorf("unknown subcommand %q (run, emptystore, diskfull, check)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "presence-jepsen:", err)
		os.Exit(1)
	}
}

// commonFlags are the flags every phase that runs a cluster takes.
type commonFlags struct {
	seed      int64
	duration  time.Duration
	users     int
	out       string
	keep      bool
	presenced string
	timeouts  nodeTimeouts
}

func (c *commonFlags) register(fs *flag.FlagSet, duration time.Duration, users int) {
	fs.Int64Var(&c.seed, "seed", time.Now().UnixNano()%1_000_000, "seed of the nemesis schedule and the clients' choices")
	fs.DurationVar(&c.duration, "duration", duration, "how long the faults and the workload run")
	fs.IntVar(&c.users, "users", users, "users in the checked history")
	fs.StringVar(&c.out, "out", os.TempDir(), "directory where a failing run leaves its report")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory (binaries, stores, logs) after the run")
	fs.StringVar(&c.presenced, "presenced", "", "presenced binary to test (default: build ./cmd/presenced)")
	fs.DurationVar(&c.timeouts.publish, "publish-timeout", 5*time.Second, "presenced --publish-timeout")
	fs.DurationVar(&c.timeouts.apply, "apply-timeout", 5*time.Second, "presenced --apply-timeout")
}

// workDir makes the run's working directory (with logs/).
func workDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir+"/logs", 0o755)
}
