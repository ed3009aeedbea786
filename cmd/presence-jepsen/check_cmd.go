package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"
)

// checkCommand checks a recorded history again and, when it is not
// linearizable, writes porcupine's visualization next to it.
func checkCommand(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	timeout := fs.Duration("check-timeout", 2*time.Minute, "longest porcupine may search")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: presence-jepsen check history.json")
	}
	hf, err := readHistoryFile(fs.Arg(0))
	if err != nil {
		return err
	}
	v := check(hf.Ops, *timeout)
	fmt.Print(summarize(hf.Seed, hf.Ops, hf.Faults, v, &counter{}, nil))
	if v.ok() {
		return nil
	}
	html := filepath.Join(filepath.Dir(fs.Arg(0)), "linearizability.html")
	if err := v.visualize(html); err != nil {
		return err
	}
	return fmt.Errorf("violation; visualization in %s", html)
}
