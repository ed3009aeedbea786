package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// natsCluster is three nats-server processes in one JetStream cluster on
// loopback. Server i dials server j through route proxy routes[i][j], so the
// nemesis can cut or blackhole the link between any two servers.
type natsCluster struct {
	servers []*process
	client  []int      // client port of each server
	monitor []int      // HTTP monitoring port of each server
	routes  [][]*proxy // routes[i][j]: i's route to j (nil for i == j)
	dirs    []string   // JetStream store directory of each server
}

const clusterSize = 3

// startNATSCluster writes a config per server and starts them.
func startNATSCluster(bin, dir string) (*natsCluster, error) {
	c := &natsCluster{}
	ports, err := freePorts(3 * clusterSize)
	if err != nil {
		return nil, err
	}
	routePort := ports[2*clusterSize:]
	c.client, c.monitor = ports[:clusterSize], ports[clusterSize:2*clusterSize]
	c.routes = make([][]*proxy, clusterSize)
	for i := range clusterSize {
		c.routes[i] = make([]*proxy, clusterSize)
		for j := range clusterSize {
			if i == j {
				continue
			}
			if c.routes[i][j], err = startProxy(fmt.Sprintf("127.0.0.1:%d", routePort[j])); err != nil {
				return nil, err
			}
		}
	}
	for i := range clusterSize {
		var routes []string
		for j := range clusterSize {
			if i != j {
				routes = append(routes, fmt.Sprintf("nats-route://%s", c.routes[i][j].addr()))
			}
		}
		store := filepath.Join(dir, fmt.Sprintf("nats-%d", i))
		c.dirs = append(c.dirs, store)
		// advertise points at a closed port: servers then only use the
		// routes configured here (through the proxies), never a gossiped
		// direct address that would bypass a partition.
		conf := fmt.Sprintf(`server_name: nats-%d
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream { store_dir: %q }
cluster {
  name: jepsen
  listen: 127.0.0.1:%d
  advertise: "127.0.0.1:1"
  no_advertise: true
  routes: [%s]
}
`, i, c.client[i], c.monitor[i], store, routePort[i], strings.Join(routes, ", "))
		cf := filepath.Join(dir, fmt.Sprintf("nats-%d.conf", i))
		if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		c.servers = append(c.servers, newProcess(fmt.Sprintf("nats-%d", i), bin,
			filepath.Join(dir, "logs", fmt.Sprintf("nats-%d.log", i)), "-c", cf))
	}
	for _, s := range c.servers {
		if err := s.start(); err != nil {
			return nil, err
		}
	}
	for i := range clusterSize {
		if err := c.waitHealthy(i, 60*time.Second); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// waitHealthy polls server i's /healthz until JetStream is up on it.
func (c *natsCluster) waitHealthy(i int, within time.Duration) error {
	deadline := time.Now().Add(within)
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", c.monitor[i])
	for {
		resp, err := probeClient().Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-%d not healthy after %s (last: %v)", i, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// isolate cuts (or blackholes) every route link of server i, both ways.
func (c *natsCluster) isolate(i int, blackhole bool) {
	for j := range clusterSize {
		if i == j {
			continue
		}
		for _, p := range []*proxy{c.routes[i][j], c.routes[j][i]} {
			if blackhole {
				p.Blackhole()
			} else {
				p.Cut()
			}
		}
	}
}

// healRoutes lets every route link through again.
func (c *natsCluster) healRoutes() {
	for i := range clusterSize {
		for j := range clusterSize {
			if p := c.routes[i][j]; p != nil {
				p.Heal()
			}
		}
	}
}

func (c *natsCluster) close() {
	for _, s := range c.servers {
		s.stop(syscall.SIGKILL, time.Second)
	}
	for i := range clusterSize {
		for _, p := range c.routes[i] {
			if p != nil {
				p.Close()
			}
		}
	}
}

// jszStream is the part of /jsz?streams=true that says who leads a stream
// and how far each replica is.
type jszStream struct {
	AccountDetails []struct {
		StreamDetail []struct {
			Name    string `json:"name"`
			Cluster struct {
				Leader   string `json:"leader"`
				Replicas []struct {
					Name    string `json:"name"`
					Current bool   `json:"current"`
					Offline bool   `json:"offline"`
					Lag     uint64 `json:"lag"`
				} `json:"replicas"`
			} `json:"cluster"`
			State struct {
				Msgs    uint64 `json:"messages"`
				LastSeq uint64 `json:"last_seq"`
			} `json:"state"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// streamView is what server i's monitoring endpoint says about the stream.
type streamView struct {
	leader  string
	lastSeq uint64
	msgs    uint64
	lagging []string // replicas the answering server sees as not current
}

func (c *natsCluster) streamView(ctx context.Context, i int, stream string) (streamView, error) {
	url := fmt.Sprintf("http://127.0.0.1:%d/jsz?accounts=true&streams=true", c.monitor[i])
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := probeClient().Do(req)
	if err != nil {
		return streamView{}, err
	}
	defer resp.Body.Close()
	var j jszStream
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		return streamView{}, err
	}
	for _, a := range j.AccountDetails {
		for _, s := range a.StreamDetail {
			if s.Name != stream {
				continue
			}
			v := streamView{leader: s.Cluster.Leader, lastSeq: s.State.LastSeq, msgs: s.State.Msgs}
			for _, r := range s.Cluster.Replicas {
				if !r.Current || r.Offline {
					v.lagging = append(v.lagging, r.Name)
				}
			}
			return v, nil
		}
	}
	return streamView{}, fmt.Errorf("nats-%d does not report stream %s", i, stream)
}

// streamLeader returns the index of the server that the running, unpaused
// servers agree leads the stream, or -1.
func (c *natsCluster) streamLeader(stream string) int {
	votes := map[string]int{}
	for i, s := range c.servers {
		if !s.running() || s.isPaused() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		v, err := c.streamView(ctx, i, stream)
		cancel()
		if err == nil && v.leader != "" {
			votes[v.leader]++
		}
	}
	for name, n := range votes {
		if n >= 2 || len(votes) == 1 {
			var idx int
			if _, err := fmt.Sscanf(name, "nats-%d", &idx); err == nil {
				return idx
			}
		}
	}
	return -1
}
