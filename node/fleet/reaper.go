package fleet

import (
	"container/heap"
	"context"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"
)

// Due lists users whose next timer transition (sync timeout, idle, offline
// timeout, federation timeout, currently_active ending) has passed.
type Due interface {
	Due(now time.Time, max int) []string
}

// ReaperConfig tunes a Reaper.
type ReaperConfig struct {
	// Node names this node; it spreads the nodes' attempts (see Spread).
	Node string
	// Interval is how often the due list is read.
	Interval time.Duration
	// Spread staggers the nodes: each node acts on a user's transition at a
	// delay in [0, Spread) derived from the node's and the user's names, so
	// that usually one node stores it and the others find it done. The
	// conditional publish makes it exactly-once either way.
	Spread time.Duration
	// Concurrency bounds the transitions stored at once.
	Concurrency int
	// Batch bounds the users taken from the due list per interval.
	Batch int
}

// Reaper stores timer transitions: when a user's visible state changes by
// the passing of time alone, the reaper stores the state as of then, so that
// the change feed shows the transition. Every node serving the fleet API
// runs one; a transition is stored once for the cluster because each write
// is conditional on the user's last sequence.
type Reaper struct {
	cfg    ReaperConfig
	due    Due
	w      *Writer
	expire Command
	log    *slog.Logger
	clock  Clock
	// onStored counts a stored transition (metrics); may be nil.
	onStored func()
}

// NewReaper returns a reaper that stores expire's result for every due user.
func NewReaper(cfg ReaperConfig, due Due, w *Writer, expire Command, clock Clock, log *slog.Logger, onStored func()) *Reaper {
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 10000
	}
	return &Reaper{cfg: cfg, due: due, w: w, expire: expire, clock: clock, log: log, onStored: onStored}
}

// Run stores transitions until ctx ends. It returns once every transition
// it started has finished.
func (r *Reaper) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, r.cfg.Concurrency)
	var later delayed
	queued := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := r.clock.Now()
		for _, u := range r.due.Due(now, r.cfg.Batch) {
			if !queued[u] {
				queued[u] = true
				heap.Push(&later, delayedUser{at: now.Add(r.offset(u)), user: u})
			}
		}
		for later.Len() > 0 && !later[0].at.After(now) {
			u := heap.Pop(&later).(delayedUser).user
			delete(queued, u)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				r.store(ctx, u)
			}()
		}
	}
}

func (r *Reaper) store(ctx context.Context, user string) {
	res, err := r.w.Do(ctx, user, r.expire)
	switch {
	case err != nil && ctx.Err() == nil:
		// The due list offers the user again after its retry delay.
		r.log.Warn("could not store a timer transition", "user_id", user, "err", err)
	case res.Stored && r.onStored != nil:
		r.onStored()
	}
}

// offset is this node's delay for user, in [0, Spread).
func (r *Reaper) offset(user string) time.Duration {
	if r.cfg.Spread <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(r.cfg.Node))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(user))
	return time.Duration(h.Sum64() % uint64(r.cfg.Spread))
}

type delayedUser struct {
	at   time.Time
	user string
}

// delayed is a min-heap of users by the time this node acts on them.
type delayed []delayedUser

func (d delayed) Len() int           { return len(d) }
func (d delayed) Less(i, j int) bool { return d[i].at.Before(d[j].at) }
func (d delayed) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *delayed) Push(x any)        { *d = append(*d, x.(delayedUser)) }
func (d *delayed) Pop() any {
	old := *d
	x := old[len(old)-1]
	*d = old[:len(old)-1]
	return x
}
