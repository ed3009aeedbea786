package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// staleReadCommand reproduces the stale consistent read of issue 11 on
// purpose. Each round stops one NATS server (SIGTERM), writes through the
// nodes while it is down, restarts it with its now old store and, during
// the next seconds, (a) asks $JS.API.STREAM.INFO through the restarted
// server and collects every answer, not only the first, and (b) sends
// consistent GETs to every node. One writer per user and increasing values
// make "older than a PUT acknowledged before the GET began" exact. It fails
// if a consistent GET returned such an older value; the STREAM.INFO answers
// that report a last sequence below one already acknowledged show which
// server misled it.
func staleReadCommand(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("staleread", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs, 0, 12)
	rounds := fs.Int("rounds", 6, "rounds (each stops and restarts one server, in turn)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := workDir("presence-jepsen-staleread-")
	if err != nil {
		return err
	}
	defer cleanupUnless(cf.keep, dir)
	e, err := startEnv(dir, cf.presenced, cf.users, cf.timeouts)
	if err != nil {
		return err
	}
	defer e.close()
	api := newAPIClient(cf.timeouts.requestBound(), 16)
	s := &staleState{acked: make([]ackedValue, cf.users)}
	staleGets, staleInfos := 0, 0
	for r := range *rounds {
		x := r % clusterSize
		e.cluster.servers[x].stop(syscall.SIGTERM, 10*time.Second)
		s.write(api, e.nodes, 3*time.Second)
		if err := e.cluster.servers[x].start(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var wg sync.WaitGroup
		var infos, gets int
		wg.Go(func() { infos = s.probeInfo(ctx, fmt.Sprintf("nats://127.0.0.1:%d", e.cluster.client[x])) })
		wg.Go(func() { gets = s.readAll(ctx, api, e.nodes) })
		wg.Wait()
		cancel()
		log.Info("round", "restarted", e.cluster.servers[x].name, "stale_stream_info_answers", infos, "stale_consistent_gets", gets)
		staleGets += gets
		staleInfos += infos
		if err := e.waitHealed(time.Minute); err != nil {
			return err
		}
	}
	fmt.Printf("staleread: %d rounds, %d STREAM.INFO answers older than an acknowledged write, %d stale consistent GETs\n",
		*rounds, staleInfos, staleGets)
	for _, d := range s.samples {
		fmt.Println("  " + d)
	}
	if staleGets > 0 {
		return fmt.Errorf("%d consistent GETs returned a value older than a PUT acknowledged before they began", staleGets)
	}
	return nil
}

// ackedValue is the last acknowledged write of one user: its counter and the
// stream sequence at or after it (the highest sequence acknowledged so far).
type ackedValue struct {
	n   int
	seq uint64
}

// staleState is what the stale-read scenario knows was acknowledged.
type staleState struct {
	mu      sync.Mutex
	acked   []ackedValue
	next    int
	samples []string
}

// write PUTs increasing values for every user, round-robin over the nodes,
// for d.
func (s *staleState) write(api *apiClient, nodes []*presenceNode, d time.Duration) {
	deadline := time.Now().Add(d)
	for i := 0; time.Now().Before(deadline); i++ {
		user := i % len(s.acked)
		s.mu.Lock()
		s.next++
		n := s.next
		s.mu.Unlock()
		a := api.put(context.Background(), nodes[i%len(nodes)].url, user, fmt.Sprint(n))
		if a.err == nil && a.status == 200 {
			s.mu.Lock()
			s.acked[user].n = max(s.acked[user].n, n)
			s.mu.Unlock()
		}
	}
}

// readAll sends consistent GETs to every node for every user until ctx ends
// and counts answers older than the write acknowledged before each began.
func (s *staleState) readAll(ctx context.Context, api *apiClient, nodes []*presenceNode) int {
	stale := 0
	for ctx.Err() == nil {
		for user := range s.acked {
			for ni, pn := range nodes {
				s.mu.Lock()
				want := s.acked[user].n
				s.mu.Unlock()
				a := api.get(ctx, pn.url, user, true)
				v, ok := a.readValue()
				if !ok || a.err != nil {
					continue
				}
				var got int
				_, _ = fmt.Sscan(v, &got)
				if got < want {
					stale++
					s.note(fmt.Sprintf("consistent GET of %s on node %d returned %q, %d was acknowledged before it began", userID(user), ni, v, want))
				}
			}
		}
	}
	return stale
}

// probeInfo asks STREAM.INFO through url every 200 ms until ctx ends,
// collecting all answers, and counts those whose last sequence is below the
// highest any answer of the same request reported: a replica answering with
// its own, older state.
func (s *staleState) probeInfo(ctx context.Context, url string) int {
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return 0
	}
	defer nc.Close()
	stale := 0
	for ctx.Err() == nil {
		inbox := nats.NewInbox()
		sub, err := nc.SubscribeSync(inbox)
		if err != nil {
			return stale
		}
		_ = nc.PublishRequest("$JS.API.STREAM.INFO.PRESENCE", inbox, nil)
		var seqs []uint64
		var leaders []string
		for {
			m, err := sub.NextMsg(300 * time.Millisecond)
			if err != nil {
				break
			}
			var resp struct {
				State struct {
					LastSeq uint64 `json:"last_seq"`
				} `json:"state"`
				Cluster struct {
					Leader string `json:"leader"`
				} `json:"cluster"`
			}
			if json.Unmarshal(m.Data, &resp) == nil && resp.State.LastSeq > 0 {
				seqs = append(seqs, resp.State.LastSeq)
				leaders = append(leaders, resp.Cluster.Leader)
			}
		}
		_ = sub.Unsubscribe()
		if len(seqs) > 1 {
			hi := seqs[0]
			for _, q := range seqs {
				hi = max(hi, q)
			}
			for i, q := range seqs {
				if q < hi {
					stale++
					s.note(fmt.Sprintf("STREAM.INFO through %s: %d answers, last_seq %v (leader field %q); answer %d is %d behind",
						url, len(seqs), seqs, leaders, i, hi-q))
				}
			}
		}
		hold(ctx, 200*time.Millisecond)
	}
	return stale
}

func (s *staleState) note(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) < 2*keepSamples {
		s.samples = append(s.samples, what)
	}
}

// cleanupUnless removes dir unless keep is set, saying where it is if kept.
func cleanupUnless(keep bool, dir string) {
	if keep {
		fmt.Println("working directory:", dir)
		return
	}
	_ = os.RemoveAll(dir)
}
