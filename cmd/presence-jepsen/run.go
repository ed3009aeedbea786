package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
)

// loadUsers is how many users the load phase spreads over (its own, after
// the checked ones).
const loadUsers = 300

// runCommand is the checked schedule: cluster, clients, nemesis, load phase,
// healing, final reads, checks.
func runCommand(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs, 60*time.Second, 30)
	clients := fs.Int("clients", 10, "checked clients, spread over the nodes")
	loadClients := fs.Int("load-clients", 300, "concurrent clients of the load phase (0: no load phase)")
	loadRequests := fs.Int("load-requests", 20, "requests each load client sends")
	checkTimeout := fs.Duration("check-timeout", 2*time.Minute, "longest porcupine may search")
	devices := fs.Int("heartbeat-devices", 10, "devices syncing through the fleet API during the schedule (0: none)")
	faultList := fs.String("faults", strings.Join(defaultFaults(), ","), "kinds of fault the nemesis draws from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	kinds, err := parseFaults(*faultList)
	if err != nil {
		return err
	}
	if cf.users < 1 || *clients < 1 {
		return errors.New("-users and -clients must be at least 1")
	}
	fmt.Printf("presence-jepsen run -seed %d -duration %s -clients %d -users %d -faults %s\n",
		cf.seed, cf.duration, *clients, cf.users, strings.Join(kinds, ","))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := workDir("presence-jepsen-")
	if err != nil {
		return err
	}
	failed := true
	defer func() {
		if !cf.keep && !failed {
			_ = os.RemoveAll(dir)
		} else {
			fmt.Println("working directory:", dir)
		}
	}()
	env, err := startEnv(dir, cf.presenced, cf.users+loadUsers+*devices, cf.timeouts)
	if err != nil {
		return err
	}
	defer env.close()

	h := newHistory(time.Now())
	w := &workload{h: h, api: newAPIClient(cf.timeouts.requestBound(), *clients), nodes: env.nodes,
		users: cf.users, contract: &counter{}}
	nem := newNemesis(cf.seed, kinds, env.cluster, env.nodes, h, log)
	runCtx, cancel := context.WithTimeout(ctx, cf.duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { nem.run(runCtx) })
	for c := range *clients {
		wg.Go(func() { w.runClient(runCtx, c, uint64(cf.seed)) })
	}
	var hb *heartbeats
	if *devices > 0 {
		hb = newHeartbeats(env.nodes, h, *devices, cf.users+loadUsers, cf.timeouts.requestBound())
		reads := newAPIClient(cf.timeouts.requestBound(), 4)
		wg.Go(func() { hb.run(runCtx, reads) })
	}
	var load *loadResult
	if *loadClients > 0 {
		lp := &loadPhase{clients: *loadClients, requests: *loadRequests, firstUser: cf.users, users: loadUsers,
			bound: cf.timeouts.requestBound(), nodes: env.nodes, h: h, faults: nem.events}
		wg.Go(func() {
			hold(runCtx, cf.duration/4)
			if runCtx.Err() == nil {
				r := lp.run(ctx, uint64(cf.seed))
				load = &r
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	log.Info("schedule over; healing and waiting for the cluster")
	if err := env.waitHealed(2 * time.Minute); err != nil {
		return err
	}
	if err := w.finalReads(*clients, 2*time.Minute); err != nil {
		return err
	}
	var flaps []string
	if hb != nil {
		if err := hb.waitOffline(newAPIClient(cf.timeouts.requestBound(), 4), heartbeatSyncTimeout+time.Minute); err != nil {
			flaps = append(flaps, err.Error())
		}
		flaps = append(flaps, hb.flaps()...)
	}
	ops := h.snapshot()
	faults := nem.events()
	v := check(ops, *checkTimeout)
	summary := summarize(cf.seed, ops, faults, v, w.contract, load)
	if hb != nil {
		syncs, samples := hb.summary()
		summary += fmt.Sprintf("heartbeats: %d devices, %d acknowledged syncs, %d consistent reads; flaps and late offlines %d %v\n",
			*devices, syncs, samples, len(flaps), firstFew(flaps, 5))
	}
	fmt.Print(summary)
	loadOK := load == nil || (load.Contract.count() == 0 && load.Hangs.count() == 0)
	if v.ok() && w.contract.count() == 0 && loadOK && len(flaps) == 0 {
		failed = false
		return nil
	}
	report, err := writeReport(cf.out, cf.seed, ops, faults, v, summary, dir)
	if err != nil {
		return fmt.Errorf("violation found; writing the report failed: %w", err)
	}
	return fmt.Errorf("violation found; history, visualization and logs in %s", report)
}

// firstFew is at most n of xs.
func firstFew(xs []string, n int) []string { return xs[:min(n, len(xs))] }

// env is a running cluster: NATS servers and presence nodes.
type env struct {
	cluster *natsCluster
	nodes   []*presenceNode
}

func startEnv(dir, presenced string, users int, t nodeTimeouts) (*env, error) {
	bins, err := buildBinaries(dir, presenced)
	if err != nil {
		return nil, err
	}
	c, err := startNATSCluster(bins.natsServer, dir)
	if err != nil {
		return nil, err
	}
	e := &env{cluster: c}
	tokens, err := writeTokens(dir, users)
	if err != nil {
		e.close()
		return nil, err
	}
	if e.nodes, err = startNodes(bins.presenced, dir, c, 3, tokens, t); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	for _, n := range e.nodes {
		n.close()
	}
	e.cluster.close()
}

// waitHealed waits until every NATS server is healthy and every node ready.
func (e *env) waitHealed(within time.Duration) error {
	for i := range clusterSize {
		if err := e.cluster.waitHealthy(i, within); err != nil {
			return err
		}
	}
	for _, n := range e.nodes {
		if err := n.waitReady(within); err != nil {
			return err
		}
	}
	return nil
}

// summarize is the run's figures as text.
func summarize(seed int64, ops []op, faults []faultEvent, v verdict, contract *counter, load *loadResult) string {
	var b strings.Builder
	counts := map[string]int{}
	for _, o := range ops {
		counts[o.Kind+" "+o.Status]++
	}
	fk := map[string]int{}
	for _, f := range faults {
		fk[f.Kind]++
	}
	fmt.Fprintf(&b, "seed %d\n", seed)
	fmt.Fprintf(&b, "operations %d: %s\n", len(ops), sortedCounts(counts))
	fmt.Fprintf(&b, "faults %d: %s\n", len(faults), sortedCounts(fk))
	fmt.Fprintf(&b, "linearizable: %s", v.Linearizable)
	if len(v.BadUsers) > 0 {
		fmt.Fprintf(&b, " (violations on %d users: %v)", len(v.BadUsers), v.BadUsers)
	}
	fmt.Fprintf(&b, "\nacked-lost %d, diverged %d, read-your-writes violations %d\n", v.AckedLost, v.Diverged, v.RYWViolations)
	fmt.Fprintf(&b, "checked clients' contract violations %s\n", contract)
	if load != nil {
		fmt.Fprintf(&b, "load phase: %s\n", load)
	}
	for _, d := range v.Details {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	return b.String()
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// writeReport writes a failing run's history, porcupine visualization,
// summary and process logs to a new folder under out and returns its path.
func writeReport(out string, seed int64, ops []op, faults []faultEvent, v verdict, summary, workDir string) (string, error) {
	dir := filepath.Join(out, fmt.Sprintf("presence-jepsen-%d-%s", seed, time.Now().Format("20060102-150405")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := writeHistoryFile(filepath.Join(dir, "history.json"), historyFile{Seed: seed, Ops: ops, Faults: faults}); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(summary), 0o644); err != nil {
		return "", err
	}
	if v.Linearizable != porcupine.Ok {
		if err := v.visualize(filepath.Join(dir, "linearizability.html")); err != nil {
			return "", err
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "logs"), os.DirFS(filepath.Join(workDir, "logs"))); err != nil {
		return "", err
	}
	return dir, nil
}
