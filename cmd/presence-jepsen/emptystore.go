package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// emptyStoreCommand replaces a NATS server's disk: the stream leader is
// killed, its store deleted, and it is started again empty. While one writer
// per user PUTs increasing values and readers GET from every node, it
// checks that the stream heals onto the new store (the server reports the
// leader's last sequence and all replicas current), that leadership can move
// onto the rebuilt server, and that no node ever serves a user a value older
// than one it served before, no consistent GET returns a value older than
// one acknowledged before it began, and every acknowledged value survives.
func emptyStoreCommand(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("emptystore", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs, 0, 12)
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := workDir("presence-jepsen-emptystore-")
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
	m := &monotonic{acked: make([]int, cf.users), served: map[[2]int]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.write(ctx, api, e.nodes) })
	for ni := range e.nodes {
		wg.Go(func() { m.read(ctx, api, e.nodes, ni) })
	}
	stopLoad := func() { cancel(); wg.Wait() }
	defer stopLoad()
	hold(context.Background(), 3*time.Second)

	victim := e.cluster.streamLeader("PRESENCE")
	if victim < 0 {
		return errors.New("no stream leader")
	}
	before, _ := e.cluster.streamView(context.Background(), victim, "PRESENCE")
	log.Info("replacing the disk of the stream leader", "server", e.cluster.servers[victim].name, "last_seq", before.lastSeq)
	e.cluster.servers[victim].stop(syscall.SIGKILL, time.Second)
	if err := os.RemoveAll(e.cluster.dirs[victim]); err != nil {
		return err
	}
	hold(context.Background(), 2*time.Second)
	if err := e.cluster.servers[victim].start(); err != nil {
		return err
	}
	t0 := time.Now()
	healed, err := e.waitStreamHealed(victim, 90*time.Second)
	if err != nil {
		return err
	}
	healTime := time.Since(t0).Round(time.Millisecond)
	log.Info("stream healed onto the empty store", "after", healTime, "last_seq", healed.lastSeq, "messages", healed.msgs)

	// Move leadership onto the rebuilt server: stop whichever other server
	// leads until it does (each stop hands leadership to a peer).
	for attempt := 0; attempt < 4; attempt++ {
		l := e.cluster.streamLeader("PRESENCE")
		if l == victim {
			log.Info("the rebuilt server leads the stream", "server", e.cluster.servers[victim].name)
			break
		}
		if l >= 0 {
			e.cluster.servers[l].stop(syscall.SIGTERM, 10*time.Second)
			hold(context.Background(), 3*time.Second)
			if err := e.cluster.servers[l].start(); err != nil {
				return err
			}
		}
		if err := e.waitHealed(time.Minute); err != nil {
			return err
		}
		if _, err := e.waitStreamHealed(victim, 90*time.Second); err != nil {
			return err
		}
	}
	hold(context.Background(), 3*time.Second)
	stopLoad()
	if err := e.waitHealed(time.Minute); err != nil {
		return err
	}
	lost := m.finalCheck(api, e.nodes)
	fmt.Printf("emptystore: %d PUTs acknowledged, %d reads; stream healed in %s; went back %d, stale consistent %d, acked-lost %d\n",
		m.puts, m.reads, healTime, m.regressions, m.stale, lost)
	for _, s := range m.samples {
		fmt.Println("  " + s)
	}
	if m.regressions+m.stale+lost > 0 {
		return errors.New("a node served older state after the disk was replaced, or lost an acknowledged write")
	}
	return nil
}

// waitStreamHealed waits until server i reports the stream with the leader's
// last sequence and message count, and no replica lagging.
func (e *env) waitStreamHealed(i int, within time.Duration) (streamView, error) {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		mine, err := e.cluster.streamView(ctx, i, "PRESENCE")
		cancel()
		l := e.cluster.streamLeader("PRESENCE")
		if err == nil && l >= 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			lead, lerr := e.cluster.streamView(ctx, l, "PRESENCE")
			cancel()
			if lerr == nil && mine.lastSeq == lead.lastSeq && mine.msgs == lead.msgs && len(lead.lagging) == 0 {
				return mine, nil
			}
			last = fmt.Errorf("nats-%d at last_seq %d (%d messages), leader nats-%d at %d (%d), lagging %v",
				i, mine.lastSeq, mine.msgs, l, lead.lastSeq, lead.msgs, lead.lagging)
		} else if err != nil {
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return streamView{}, fmt.Errorf("stream not healed on nats-%d within %s: %v", i, within, last)
}

// monotonic is a workload with one writer per user, so values increase in
// acknowledgement order, and readers that remember what each node served.
type monotonic struct {
	mu          sync.Mutex
	acked       []int          // per user, the highest acknowledged value
	served      map[[2]int]int // (node, user) -> highest value served
	next        int
	puts, reads int
	regressions int // a node served a value lower than it served before
	stale       int // a consistent GET below the value acknowledged before it began
	samples     []string
}

func (m *monotonic) write(ctx context.Context, api *apiClient, nodes []*presenceNode) {
	for i := 0; ctx.Err() == nil; i++ {
		user := i % len(m.acked)
		m.mu.Lock()
		m.next++
		n := m.next
		m.mu.Unlock()
		a := api.put(ctx, nodes[i%len(nodes)].url, user, fmt.Sprint(n))
		if a.err == nil && a.status == 200 {
			m.mu.Lock()
			m.acked[user] = max(m.acked[user], n)
			m.puts++
			m.mu.Unlock()
		}
		hold(ctx, 5*time.Millisecond)
	}
}

// read GETs every user from node ni, alternating plain and consistent reads.
func (m *monotonic) read(ctx context.Context, api *apiClient, nodes []*presenceNode, ni int) {
	for i := 0; ctx.Err() == nil; i++ {
		user := i % len(m.acked)
		consistent := i%2 == 0
		m.mu.Lock()
		want := m.acked[user]
		m.mu.Unlock()
		a := api.get(ctx, nodes[ni].url, user, consistent)
		v, ok := a.readValue()
		if !ok || a.err != nil {
			continue
		}
		var got int
		_, _ = fmt.Sscan(v, &got)
		m.mu.Lock()
		m.reads++
		key := [2]int{ni, user}
		if got < m.served[key] {
			m.regressions++
			m.sample(fmt.Sprintf("node %d served %s value %d after serving %d", ni, userID(user), got, m.served[key]))
		}
		m.served[key] = max(m.served[key], got)
		if consistent && got < want {
			m.stale++
			m.sample(fmt.Sprintf("consistent GET of %s on node %d returned %d, %d was acknowledged before", userID(user), ni, got, want))
		}
		m.mu.Unlock()
	}
}

func (m *monotonic) sample(s string) {
	if len(m.samples) < keepSamples {
		m.samples = append(m.samples, s)
	}
}

// finalCheck reads every user on every node (consistent, retried) and counts
// acknowledged values that are missing.
func (m *monotonic) finalCheck(api *apiClient, nodes []*presenceNode) int {
	lost := 0
	for user, want := range m.acked {
		for ni, pn := range nodes {
			got := -1
			for try := 0; try < 50 && got < 0; try++ {
				a := api.get(context.Background(), pn.url, user, true)
				if v, ok := a.readValue(); ok && a.err == nil {
					_, _ = fmt.Sscan(v, &got)
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if got < want {
				lost++
				m.sample(fmt.Sprintf("final: node %d has %s at %d, %d was acknowledged", ni, userID(user), got, want))
			}
		}
	}
	return lost
}

// cleanupUnless removes dir unless keep is set, saying where it is if kept.
func cleanupUnless(keep bool, dir string) {
	if keep {
		fmt.Println("working directory:", dir)
		return
	}
	_ = os.RemoveAll(dir)
}
