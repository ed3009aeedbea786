package main

import (
	"flag"
	"fmt"
)

// subcommands are presenced's commands other than serving, as the usage
// message lists them.
const subcommands = `commands:
  presenced [flags]                      serve the presence API (the flags are below)
  presenced version                      print the version (also: presenced --version)
  presenced healthcheck [flags] [URL...] probe /readyz and exit 0 when healthy (presenced healthcheck -h)
  presenced backup [flags] DIR           back the stream up into DIR (presenced backup -h)
  presenced restore [flags] DIR          restore the stream from DIR into a fresh NATS (presenced restore -h)
  presenced help                         print this message
`

// printUsage is the usage message of presenced: the subcommands, then every
// flag of the node.
func printUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "usage: presenced [flags] | presenced <command> [arguments]\n\n%s\n", subcommands)
	fmt.Fprintf(w, "flags (each can also be set as %s<NAME> in the environment, or as a key of the --config file):\n", envPrefix)
	fs.PrintDefaults()
}
