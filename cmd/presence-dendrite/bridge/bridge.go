package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Options are the bridge's collaborators, passed in so that several bridges
// can run in one process.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Bridge is one replica. Run it; serve Handler for probes and metrics.
type Bridge struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	feed   *Presenced
	log    *slog.Logger
	m      *metrics
	now    func() time.Time
	status status
}

// New returns a replica that publishes to, and stores its state on, the
// NATS behind nc.
func New(cfg Config, nc *nats.Conn, feed *Presenced, opts Options) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	b := &Bridge{cfg: cfg, nc: nc, js: js, feed: feed, log: log.With("replica", cfg.Replica), m: newMetrics(reg), now: now}
	b.status.set(func(s *statusFields) { s.role = roleStarting; s.reason = "starting" })
	return b, nil
}

// Run takes part in the lease until ctx ends: as the holder it publishes the
// feed to Dendrite and forwards inbound federation presence; otherwise it
// waits to take over. On return the lease, if held, is released.
func (b *Bridge) Run(ctx context.Context) error {
	positions, leases, err := b.buckets(ctx)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		l := &lease{kv: leases, holder: b.cfg.Replica, ttl: b.cfg.LeaseTTL}
		got, err := l.acquire(ctx, b.now())
		switch {
		case err != nil:
			if ctx.Err() != nil {
				break
			}
			b.log.Warn("cannot reach the lease bucket", "err", err)
			b.status.set(func(s *statusFields) { s.role = roleStandby; s.reason = "lease bucket: " + err.Error() })
		case got:
			b.lead(ctx, l, &positionStore{kv: positions})
			continue
		default:
			b.status.set(func(s *statusFields) { s.role = roleStandby; s.reason = "" })
		}
		sleep(ctx, b.cfg.LeaseTTL/3)
	}
	return nil
}

// buckets opens (creating if needed) the position and lease buckets,
// retrying until NATS answers or ctx ends.
func (b *Bridge) buckets(ctx context.Context) (positions, leases jetstream.KeyValue, err error) {
	var bo backoff
	for {
		positions, err = b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      b.cfg.Bucket,
			Description: "presence-dendrite: the change-feed position Dendrite has consumed up to",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    b.cfg.BucketReplicas,
		})
		if err == nil {
			leases, err = b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:      b.cfg.Bucket + "-lease",
				Description: "presence-dendrite: which replica publishes",
				History:     1,
				TTL:         b.cfg.LeaseTTL,
				Storage:     jetstream.FileStorage,
				Replicas:    b.cfg.BucketReplicas,
			})
		}
		if err == nil {
			return positions, leases, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		b.log.Warn("cannot open the KV buckets", "bucket", b.cfg.Bucket, "err", err)
		b.status.set(func(s *statusFields) { s.reason = "KV buckets: " + err.Error() })
		bo.wait(ctx)
	}
}

// lead runs the holder's work until the lease is lost or ctx ends.
func (b *Bridge) lead(ctx context.Context, l *lease, positions *positionStore) {
	b.log.Info("took the publisher lease")
	b.m.leaseAcquired.Inc()
	b.m.leader.Set(1)
	defer b.m.leader.Set(0)
	b.status.set(func(s *statusFields) { s.role = roleLeader; s.reason = "resuming" })

	lctx, cancel := context.WithCancelCause(ctx)
	var h holder
	h.set(l.safeUntil())
	var wg sync.WaitGroup
	wg.Go(func() { b.renewLoop(lctx, cancel, l, &h) })
	wg.Go(func() {
		if err := b.publishLoop(lctx, &h, positions); err != nil {
			cancel(err)
		}
	})
	wg.Go(func() { b.forwardLoop(lctx) })
	<-lctx.Done()
	wg.Wait()

	if ctx.Err() != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer rcancel()
		if err := l.release(rctx); err != nil {
			b.log.Warn("could not release the publisher lease; another replica takes over when it expires", "err", err)
		} else {
			b.log.Info("released the publisher lease")
		}
		return
	}
	b.m.leaseLost.Inc()
	b.log.Warn("lost the publisher lease", "err", context.Cause(lctx))
	b.status.set(func(s *statusFields) { s.role = roleStandby; s.reason = "" })
}

// renewLoop renews the lease every third of its TTL. It ends the lead when
// another replica holds the key, or when renewals have failed for so long
// that the lease may have expired.
func (b *Bridge) renewLoop(ctx context.Context, cancel context.CancelCauseFunc, l *lease, h *holder) {
	t := time.NewTicker(b.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := b.now()
		rctx, rcancel := context.WithTimeout(ctx, b.cfg.LeaseTTL/3)
		err := l.renew(rctx, sent)
		rcancel()
		if err == nil {
			h.set(l.safeUntil())
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errLeaseLost) || !b.now().Before(l.safeUntil()) {
			cancel(fmt.Errorf("%w: %v", errLeaseLost, err))
			return
		}
		b.log.Warn("could not renew the publisher lease", "err", err)
	}
}

// holder tells the publisher until when the lease is certainly held.
type holder struct {
	mu    sync.Mutex
	until time.Time
}

func (h *holder) set(t time.Time) {
	h.mu.Lock()
	h.until = t
	h.mu.Unlock()
}

func (h *holder) holds(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Before(h.until)
}

// backoff is a retry delay that doubles from 100ms to 5s.
type backoff struct{ d time.Duration }

func (bo *backoff) wait(ctx context.Context) {
	bo.d = min(max(bo.d*2, 100*time.Millisecond), 5*time.Second)
	sleep(ctx, bo.d)
}

func (bo *backoff) reset() { bo.d = 0 }

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
