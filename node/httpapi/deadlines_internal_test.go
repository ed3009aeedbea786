package httpapi

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// deadlinePair is a deadline listener on loopback with one accepted
// connection (server side) and its client.
type deadlinePair struct {
	l      *deadlineListener
	server *deadlineConn
	client net.Conn
}

func newDeadlinePair(t *testing.T, tick time.Duration) *deadlinePair {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newDeadlineListener(inner, tick)
	client, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	p := &deadlinePair{l: l, server: c.(*deadlineConn), client: client}
	t.Cleanup(func() {
		client.Close()
		p.server.Close()
		l.Close()
	})
	return p
}

// roundTrip has the client send one byte and the server read it.
func (p *deadlinePair) roundTrip() error {
	if _, err := p.client.Write([]byte{'x'}); err != nil {
		return err
	}
	_, err := io.ReadFull(p.server, make([]byte, 1))
	return err
}

// An hour's tick: only the test's own calls of expire apply deadlines.
const noTick = time.Hour

func TestDeadlineAppliedOnlyOncePassed(t *testing.T) {
	p := newDeadlinePair(t, noTick)
	now := time.Now()
	if err := p.server.SetReadDeadline(now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	p.l.expire(p.l.since(now), nil)
	if err := p.roundTrip(); err != nil {
		t.Fatalf("read before the deadline: %v", err)
	}
	p.l.expire(p.l.since(now.Add(2*time.Minute)), nil)
	if err := p.roundTrip(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the deadline passed: %v, want %v", err, os.ErrDeadlineExceeded)
	}
	// Lifting the deadline lifts the one applied.
	if err := p.server.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := p.roundTrip(); err != nil {
		t.Fatalf("read after the deadline was lifted: %v", err)
	}
}

func TestDeadlineMovedBeforeItPasses(t *testing.T) {
	p := newDeadlinePair(t, noTick)
	now := time.Now()
	_ = p.server.SetReadDeadline(now.Add(time.Minute))
	_ = p.server.SetReadDeadline(now.Add(time.Hour))
	p.l.expire(p.l.since(now.Add(2*time.Minute)), nil)
	if err := p.roundTrip(); err != nil {
		t.Fatalf("read before the moved deadline: %v", err)
	}
	_ = p.server.SetReadDeadline(time.Time{})
	p.l.expire(p.l.since(now.Add(2*time.Hour)), nil)
	if err := p.roundTrip(); err != nil {
		t.Fatalf("read without a deadline: %v", err)
	}
}

// A deadline already past, net/http's way to interrupt a read, is applied
// at once, without waiting for a tick.
func TestPastDeadlineAppliedAtOnce(t *testing.T) {
	p := newDeadlinePair(t, noTick)
	_ = p.server.SetReadDeadline(time.Unix(1, 0))
	if err := p.roundTrip(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after a past deadline: %v, want %v", err, os.ErrDeadlineExceeded)
	}
	_ = p.server.SetReadDeadline(time.Now().Add(time.Minute))
	if err := p.roundTrip(); err != nil {
		t.Fatalf("read after the deadline was moved on: %v", err)
	}
}

func TestWriteDeadlineApplied(t *testing.T) {
	p := newDeadlinePair(t, noTick)
	now := time.Now()
	_ = p.server.SetDeadline(now.Add(time.Minute))
	if _, err := p.server.Write([]byte{'x'}); err != nil {
		t.Fatalf("write before the deadline: %v", err)
	}
	p.l.expire(p.l.since(now.Add(2*time.Minute)), nil)
	if _, err := p.server.Write([]byte{'x'}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after the deadline passed: %v, want %v", err, os.ErrDeadlineExceeded)
	}
}

// The watchdog interrupts a read that is blocked when its deadline passes.
func TestWatchdogInterruptsBlockedRead(t *testing.T) {
	p := newDeadlinePair(t, minDeadlineTick)
	_ = p.server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	done := make(chan error, 1)
	go func() {
		_, err := p.server.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked read ended with %v, want %v", err, os.ErrDeadlineExceeded)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked read still blocked 10s after its deadline")
	}
}

// The watchdog runs while the listener or any of its connections is open.
func TestWatchdogStopsWithLastConnection(t *testing.T) {
	p := newDeadlinePair(t, minDeadlineTick)
	p.l.Close()
	select {
	case <-p.l.done:
		t.Fatal("watchdog stopped while a connection was open")
	default:
	}
	// Still applied after the listener closed.
	_ = p.server.SetReadDeadline(time.Now())
	if _, err := p.server.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a closed listener's connection: %v, want %v", err, os.ErrDeadlineExceeded)
	}
	p.server.Close()
	select {
	case <-p.l.done:
	case <-time.After(10 * time.Second):
		t.Fatal("watchdog still running 10s after its listener and last connection closed")
	}
}

func TestDeadlineTick(t *testing.T) {
	for _, c := range []struct {
		l    Listener
		want time.Duration
	}{
		{Listener{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second}, maxDeadlineTick},
		{Listener{ReadHeaderTimeout: 500 * time.Millisecond, IdleTimeout: time.Minute}, 50 * time.Millisecond},
		{Listener{ReadTimeout: time.Millisecond}, minDeadlineTick},
		{Listener{}, maxDeadlineTick},
	} {
		if got := c.l.deadlineTick(); got != c.want {
			t.Errorf("%+v: tick %v, want %v", c.l, got, c.want)
		}
	}
}

// TestDeadlineMovedWhileApplied: a deadline moved into the future, without
// the lock, just as the watchdog applies its passed value, is lifted again
// by the watchdog. The hook puts the move in that window every time.
func TestDeadlineMovedWhileApplied(t *testing.T) {
	p := newDeadlinePair(t, noTick)
	now := time.Now()
	_ = p.server.SetReadDeadline(now.Add(time.Second))
	moved := false
	p.l.beforeApply = func() {
		if !moved {
			moved = true
			_ = p.server.SetReadDeadline(now.Add(time.Hour))
		}
	}
	p.l.expire(p.l.since(now.Add(2*time.Second)), nil)
	if !moved {
		t.Fatal("the watchdog did not apply the passed deadline")
	}
	if err := p.roundTrip(); err != nil {
		t.Fatalf("read before the moved deadline, an hour away: %v", err)
	}
}

// TestDeadlineSetRacingWatchdog: deadlines moved on while the watchdog
// applies the ones they replace end with the connection usable, and the
// last deadline set is the one in force.
func TestDeadlineSetRacingWatchdog(t *testing.T) {
	p := newDeadlinePair(t, noTick)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				p.l.expire(p.l.since(time.Now()), nil)
			}
		}
	}()
	for i := range 20000 {
		d := time.Hour
		if i%2 == 0 {
			d = -time.Millisecond // already passed: the watchdog applies it
		}
		_ = p.server.SetReadDeadline(time.Now().Add(d))
	}
	close(stop)
	<-done
	_ = p.server.SetReadDeadline(time.Now().Add(time.Hour))
	p.l.expire(p.l.since(time.Now()), nil)
	if err := p.roundTrip(); err != nil {
		t.Fatalf("read after the last deadline, an hour away: %v", err)
	}
	_ = p.server.SetReadDeadline(time.Now().Add(-time.Millisecond))
	p.l.expire(p.l.since(time.Now()), nil)
	if err := p.roundTrip(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the last deadline passed: %v, want %v", err, os.ErrDeadlineExceeded)
	}
}
