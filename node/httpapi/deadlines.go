package httpapi

import (
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// net/http moves a keep-alive connection's deadlines about eight times per
// request: the header, body and write deadlines, the idle deadline, and the
// clearing of each. A real deadline is a runtime timer, and re-arming it so
// often cost about a tenth of a GET's CPU. The listener here keeps the
// deadlines net/http asks for on the connection's side instead, and a
// watchdog, one per listener, applies each one that has passed to the
// connection itself: its blocked or next read or write then fails with
// os.ErrDeadlineExceeded, as net/http expects. A deadline so takes effect up
// to one tick late (a tenth of the listener's shortest timeout, at most a
// quarter of a second). A deadline that is already past when it is set,
// net/http's way to interrupt a read, is applied at once.

// longAgo is the time a passed deadline is applied as: any time past
// fails the connection's reads or writes at once.
var longAgo = time.Unix(1, 0)

// Bounds of the watchdog's tick.
const (
	minDeadlineTick = 10 * time.Millisecond
	maxDeadlineTick = 250 * time.Millisecond
)

// deadlineTick is the watchdog's period for the listener's timeouts.
func (l Listener) deadlineTick() time.Duration {
	tick := maxDeadlineTick
	for _, d := range []time.Duration{l.ReadHeaderTimeout, l.ReadTimeout, l.WriteTimeout, l.IdleTimeout} {
		if d > 0 {
			tick = min(tick, d/10)
		}
	}
	return max(tick, minDeadlineTick)
}

// deadlineListener hands out connections whose deadlines its watchdog
// applies. The watchdog runs until the listener is closed and the last of
// its connections with it.
type deadlineListener struct {
	net.Listener
	// Deadlines are kept as nanoseconds since epoch, on the monotonic
	// clock (noDeadline for none); past is such a time already gone: the
	// last tick's.
	epoch time.Time
	past  atomic.Int64

	// beforeApply, when set (by tests), runs as a passed deadline is about
	// to be applied, before the connection is marked: the window in which
	// a set that takes no lock can move the deadline on.
	beforeApply func()

	mu      sync.Mutex
	conns   map[*deadlineConn]struct{}
	closed  bool
	stopped bool
	stop    chan struct{}
	done    chan struct{}
}

func newDeadlineListener(inner net.Listener, tick time.Duration) *deadlineListener {
	l := &deadlineListener{
		Listener: inner,
		epoch:    time.Now(),
		conns:    make(map[*deadlineConn]struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go l.watch(tick)
	return l
}

func (l *deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &deadlineConn{Conn: c, l: l}
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.conns[dc] = struct{}{}
	}
	l.mu.Unlock()
	if closed {
		// Accepted as the listener closed: no watchdog would apply its
		// deadlines.
		_ = c.Close()
		return nil, net.ErrClosed
	}
	return dc, nil
}

func (l *deadlineListener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.stopIfIdleLocked()
	l.mu.Unlock()
	return l.Listener.Close()
}

// remove forgets c, which is closing.
func (l *deadlineListener) remove(c *deadlineConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.stopIfIdleLocked()
	l.mu.Unlock()
}

// stopIfIdleLocked stops the watchdog once the listener is closed and holds
// no connection. l.mu is held.
func (l *deadlineListener) stopIfIdleLocked() {
	if l.closed && len(l.conns) == 0 && !l.stopped {
		l.stopped = true
		close(l.stop)
	}
}

// watch applies the connections' passed deadlines every tick until stopped.
func (l *deadlineListener) watch(tick time.Duration) {
	defer close(l.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	var batch []*deadlineConn
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			batch = l.expire(l.since(time.Now()), batch[:0])
		}
	}
}

// noDeadline is the time of no deadline: one that never passes.
const noDeadline = math.MaxInt64

// since is t as nanoseconds since the listener's epoch (noDeadline for the
// zero time). A time without a monotonic reading, such as net/http's
// "long ago", is compared by the wall clock, and is in the past.
func (l *deadlineListener) since(t time.Time) int64 {
	if t.IsZero() {
		return noDeadline
	}
	return int64(t.Sub(l.epoch))
}

// expire applies every deadline passed at now and returns batch (a buffer
// for the connections, kept between ticks).
func (l *deadlineListener) expire(now int64, batch []*deadlineConn) []*deadlineConn {
	l.past.Store(now)
	l.mu.Lock()
	for c := range l.conns {
		batch = append(batch, c)
	}
	l.mu.Unlock()
	for _, c := range batch {
		c.expire(now)
	}
	clear(batch)
	return batch
}

// deadlineConn is a connection whose read and write deadlines are kept
// aside until they pass.
type deadlineConn struct {
	net.Conn
	l *deadlineListener

	// mu orders the changes of the connection's own deadlines: setting a
	// deadline that needs none (the common case) takes no lock.
	mu          sync.Mutex
	read, write deadline
	closeOnce   sync.Once
}

// deadline is one direction's deadline.
type deadline struct {
	// at is the deadline asked for (see deadlineListener.since).
	at atomic.Int64
	// applied says the connection's own deadline is set, to a time
	// passed; it changes only under mu.
	applied atomic.Bool
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error { return c.set(&c.read, true, t) }

func (c *deadlineConn) SetWriteDeadline(t time.Time) error { return c.set(&c.write, false, t) }

// set records t as the read or the write deadline. The connection's own
// deadline is touched only to apply a deadline already past, or to lift
// one the watchdog applied.
func (c *deadlineConn) set(d *deadline, read bool, t time.Time) error {
	at := c.l.since(t)
	d.at.Store(at)
	if at > c.l.past.Load() && !d.applied.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconcile(d, read, c.l.past.Load())
}

// reconcile applies d to the connection if it has passed at now, and lifts
// an applied one that has not. c.mu is held.
func (c *deadlineConn) reconcile(d *deadline, read bool, now int64) error {
	switch passed := d.at.Load() <= now; {
	case passed && !d.applied.Load():
		if c.l.beforeApply != nil {
			c.l.beforeApply()
		}
		d.applied.Store(true)
		return c.setOwn(read, longAgo)
	case !passed && d.applied.Load():
		d.applied.Store(false)
		return c.setOwn(read, time.Time{})
	}
	return nil
}

// expire applies the deadlines passed at now.
func (c *deadlineConn) expire(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range [...]struct {
		d    *deadline
		read bool
	}{{&c.read, true}, {&c.write, false}} {
		if d.d.applied.Load() || d.d.at.Load() > now {
			continue
		}
		_ = c.reconcile(d.d, d.read, now)
		// A set racing this one may have read applied as false and gone
		// without the lock: look at what it stored, and lift the deadline
		// if it has moved on.
		_ = c.reconcile(d.d, d.read, now)
	}
}

func (c *deadlineConn) setOwn(read bool, t time.Time) error {
	if read {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.l.remove(c) })
	return err
}
