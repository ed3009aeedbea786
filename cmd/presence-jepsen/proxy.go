package main

import (
	"net"
	"sync"
)

// proxy is a TCP proxy on loopback in front of one address, which the
// nemesis uses to partition one component from another. It has three modes:
//
//   - open: bytes flow both ways;
//   - cut: every connection is closed and new ones are refused, as when a
//     host goes away and its peers get resets;
//   - blackhole: connections stay open but no byte moves (new ones are
//     accepted and held), as when packets are silently dropped; only the
//     peers' own timeouts notice. Healing lets the held bytes through.
type proxy struct {
	target string
	ln     net.Listener

	mu        sync.Mutex
	cond      *sync.Cond // signalled when the mode changes
	cut       bool
	blackhole bool
	closed    bool
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

func startProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// addr is the proxy's listen address (host:port).
func (p *proxy) addr() string { return p.ln.Addr().String() }

// Cut closes every connection and refuses new ones until heal.
func (p *proxy) Cut() {
	p.mu.Lock()
	p.cut, p.blackhole = true, false
	for c := range p.conns {
		_ = c.Close()
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Blackhole stops every byte until heal, without closing anything.
func (p *proxy) Blackhole() {
	p.mu.Lock()
	p.blackhole = true
	p.mu.Unlock()
}

// Heal lets connections and bytes through again.
func (p *proxy) Heal() {
	p.mu.Lock()
	p.cut, p.blackhole = false, false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Close stops the proxy and waits for its goroutines.
func (p *proxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Cut()
	p.wg.Wait()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(in)
	}
}

// serve connects one accepted connection to the target, once the proxy lets
// it (a blackholed proxy holds it; a cut one closes it).
func (p *proxy) serve(in net.Conn) {
	defer p.wg.Done()
	if !p.track(in) || !p.gate() {
		_ = in.Close()
		p.untrack(in)
		return
	}
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = in.Close()
		p.untrack(in)
		return
	}
	if !p.track(out) {
		_ = in.Close()
		_ = out.Close()
		p.untrack(in)
		return
	}
	p.wg.Add(2)
	go p.pipe(in, out)
	go p.pipe(out, in)
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// gate waits while the proxy is blackholed; false when it is cut.
func (p *proxy) gate() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.blackhole && !p.cut && !p.closed {
		p.cond.Wait()
	}
	return !p.cut && !p.closed
}

// pipe copies src to dst, holding each chunk while the proxy is blackholed.
func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	p.untrack(dst)
	p.untrack(src)
}
