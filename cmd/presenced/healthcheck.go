package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheck is the "presenced healthcheck" subcommand: a probe for
// container images that have no shell and no HTTP client. It GETs each URL
// (default: this node's /readyz, on the port of PRESENCE_LISTEN) and exits 0
// when all answer 2xx, 1 otherwise. With --wait it retries until they all do
// or the wait is over, which lets a one-shot container hold others back until
// a set of servers is healthy.
func healthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("presenced healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "timeout of each request")
	wait := fs.Duration("wait", 0, "retry until every URL is healthy or this much time has passed")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: presenced healthcheck [--timeout d] [--wait d] [URL ...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	urls := fs.Args()
	if len(urls) == 0 {
		urls = []string{"http://" + probeAddr(getenv("PRESENCE_LISTEN")) + "/readyz"}
	}
	client := &http.Client{Timeout: *timeout}
	deadline := time.Now().Add(*wait)
	for {
		err := probeAll(client, urls)
		if err == nil {
			fmt.Fprintln(stdout, "healthy")
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stderr, "unhealthy: %v\n", err)
			return 1
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// probeAddr turns a listen address into one to connect to: an empty or
// wildcard host becomes loopback.
func probeAddr(listen string) string {
	if listen == "" {
		return "127.0.0.1:8008"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func probeAll(client *http.Client, urls []string) error {
	for _, u := range urls {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s: %d %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
		}
	}
	return nil
}
