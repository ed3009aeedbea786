package httpapi

import (
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
	// past is a time (Unix nanoseconds) already gone: the last tick.
	past atomic.Int64

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
		conns:    make(map[*deadlineConn]struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	l.past.Store(time.Now().UnixNano())
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
			batch = l.expire(time.Now(), batch[:0])
		}
	}
}

// expire applies every deadline passed at now and returns batch (a buffer
// for the connections, kept between ticks).
func (l *deadlineListener) expire(now time.Time, batch []*deadlineConn) []*deadlineConn {
	l.past.Store(now.UnixNano())
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

	mu          sync.Mutex
	read, write deadline
	closeOnce   sync.Once
}

// deadline is one direction's deadline.
type deadline struct {
	// at is the deadline asked for; zero is none.
	at time.Time
	// applied says the connection's own deadline is set, to a time passed.
	applied bool
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
	past := !t.IsZero() && t.UnixNano() < c.l.past.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	d.at = t
	if !past && !d.applied {
		return nil
	}
	d.applied = past
	var own time.Time
	if past {
		own = t
	}
	return c.setOwn(read, own)
}

// expire applies the deadlines passed at now.
func (c *deadlineConn) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, read := range []bool{true, false} {
		d := &c.write
		if read {
			d = &c.read
		}
		if !d.applied && !d.at.IsZero() && !d.at.After(now) {
			d.applied = true
			_ = c.setOwn(read, longAgo)
		}
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
