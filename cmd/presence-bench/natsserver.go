package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServer is a nats-server process with JetStream, built from the
// nats-server module that presenced embeds. It runs as its own process, not
// inside the harness, so that its memory can be read on its own, the load
// generator's garbage collection does not run in it, and presenced and the
// baselines reach it the same way, over loopback TCP.
type natsServer struct {
	name     string
	url      string
	monitor  string
	storeDir string
	conf     string
	proc     *proc
}

// natsCluster starts size servers; with size > 1 they form one JetStream
// cluster.
func (r *run) natsCluster(ctx context.Context, tag string, size int) ([]*natsServer, error) {
	servers := make([]*natsServer, size)
	clusterPorts := make([]int, size)
	for i := range servers {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		mon, err := freeAddr()
		if err != nil {
			return nil, err
		}
		if clusterPorts[i], err = freePort(); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%s-nats%d", tag, i)
		dir := filepath.Join(r.dir, name)
		servers[i] = &natsServer{name: name, url: fmt.Sprintf("nats://127.0.0.1:%d", port), monitor: mon,
			storeDir: filepath.Join(dir, "jetstream"), conf: filepath.Join(dir, "nats.conf")}
		var c strings.Builder
		fmt.Fprintf(&c, "server_name: %s\nhost: 127.0.0.1\nport: %d\nhttp: %s\n", name, port, mon)
		fmt.Fprintf(&c, "jetstream { store_dir: %q }\n", servers[i].storeDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		servers[i].conf = filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(servers[i].conf, []byte(c.String()), 0o644); err != nil {
			return nil, err
		}
	}
	if size > 1 {
		for i, s := range servers {
			var routes []string
			for j, p := range clusterPorts {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
				}
			}
			extra := fmt.Sprintf("cluster { name: %s, host: 127.0.0.1, port: %d, routes: [%s] }\n", tag, clusterPorts[i], strings.Join(routes, ", "))
			f, err := os.OpenFile(s.conf, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return nil, err
			}
			_, err = f.WriteString(extra)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	for _, s := range servers {
		if err := r.startNATS(s); err != nil {
			return nil, err
		}
	}
	for _, s := range servers {
		if _, err := s.proc.waitHTTP(ctx, "http://"+s.monitor+"/healthz", 60*time.Second); err != nil {
			return nil, err
		}
	}
	return servers, nil
}

func (r *run) startNATS(s *natsServer) error {
	p, err := r.procs.start(s.name, r.bins.natsServer, []string{"-c", s.conf})
	s.proc = p
	return err
}

// restart stops the server and starts it again on its files, and returns
// how long it took to answer its health check with JetStream recovered.
func (s *natsServer) restart(ctx context.Context, r *run) (time.Duration, error) {
	s.proc.stop()
	t0 := time.Now()
	if err := r.startNATS(s); err != nil {
		return 0, err
	}
	ready, err := s.proc.waitHTTP(ctx, "http://"+s.monitor+"/healthz", 10*time.Minute)
	return ready.Sub(t0), err
}

// presenceStream is the stream presenced asks for (docs/events.md), so
// that a node started on a seeded stream finds it as it wants it.
func presenceStream(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "PRESENCE",
		Description:       "Matrix presence events, latest per user (presenced)",
		Subjects:          []string{"presence.>"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		Duplicates:        2 * time.Minute,
		AllowDirect:       true,
	}
}

// jsConn is the harness's own connection to a NATS server, for seeding.
type jsConn struct {
	nc *nats.Conn
	js jetstream.JetStream
	// failed holds the asynchronous publishes that failed, for seed to
	// publish again.
	mu     sync.Mutex
	failed []*nats.Msg
}

// takeFailed returns the publishes that failed so far and forgets them.
func (c *jsConn) takeFailed() []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.failed
	c.failed = nil
	return f
}

func (c *jsConn) close() { c.nc.Close() }

// connectJS connects to url and makes sure the presence stream exists,
// retrying while a young cluster elects its leaders.
func connectJS(ctx context.Context, url string, replicas int) (*jsConn, error) {
	nc, err := nats.Connect(url, nats.Name("presence-bench"))
	if err != nil {
		return nil, err
	}
	c := &jsConn{nc: nc}
	c.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192),
		jetstream.WithPublishAsyncTimeout(time.Minute),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, _ error) {
			c.mu.Lock()
			c.failed = append(c.failed, m)
			c.mu.Unlock()
		}))
	if err != nil {
		nc.Close()
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var st jetstream.Stream
		st, err = c.js.CreateOrUpdateStream(cctx, presenceStream(replicas))
		if err == nil {
			err = streamLed(cctx, st, replicas)
		}
		cancel()
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			nc.Close()
			return nil, fmt.Errorf("create the presence stream: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// streamLed reports whether a replicated stream has a leader and every
// replica is current: a young stream's first publishes otherwise find no
// one to store them.
func streamLed(ctx context.Context, st jetstream.Stream, replicas int) error {
	if replicas <= 1 {
		return nil
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	cl := info.Cluster
	if cl == nil || cl.Leader == "" || len(cl.Replicas) < replicas-1 {
		return fmt.Errorf("stream has no leader and %d replicas yet", replicas)
	}
	for _, r := range cl.Replicas {
		if !r.Current {
			return fmt.Errorf("replica %s of the stream is not current", r.Name)
		}
	}
	return nil
}
