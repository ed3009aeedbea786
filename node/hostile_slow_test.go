package node_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// TestSlowloris opens many connections that trickle header lines, never
// finishing a request. The header deadline cuts every one of them off; the
// node answers other clients meanwhile; and afterwards no goroutine is left
// serving a connection.
func TestSlowloris(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.ReadHeaderTimeout = 500 * time.Millisecond
	}))
	wantHealthy(t, n)
	baseline := serveConns()
	heapBefore := heapAlloc()

	const conns = 200
	stop := make(chan struct{})
	var wg sync.WaitGroup
	closedByServer := make(chan bool, conns)
	for i := range conns {
		c, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			// Trickle a header line every 50 ms for up to 10 s, much longer
			// than the header deadline.
			_, _ = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
			for j := 0; j < 200; j++ {
				select {
				case <-stop:
					closedByServer <- false
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := fmt.Fprintf(c, "X-%d-%d: y\r\n", i, j); err != nil {
					closedByServer <- true
					return
				}
			}
			closedByServer <- false
		}()
	}
	// Other clients are served while the attack runs.
	for range 5 {
		wantHealthy(t, n)
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if got := len(closedByServer); got < conns {
			return fmt.Errorf("%d of %d slow connections cut off by the server", got, conns)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	close(closedByServer)
	for cut := range closedByServer {
		if !cut {
			t.Fatal("a slow connection was still open after the header deadline")
		}
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if got := serveConns(); got > baseline {
			return fmt.Errorf("%d goroutines serving connections, %d before the attack", got, baseline)
		}
		return nil
	})
	// Nothing the attack sent is retained (a generous bound: the heap of
	// the whole test process moves by a few MiB on its own).
	if grown := int64(heapAlloc()) - int64(heapBefore); grown > 16<<20 {
		t.Fatalf("heap grew by %d bytes over the attack", grown)
	}
	wantHealthy(t, n)
}

// heapAlloc is the live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMaxConnections opens more slow connections than --max-connections:
// no more than the cap are ever being served, and a normal client is
// served once the header deadline frees a slot.
func TestMaxConnections(t *testing.T) {
	const maxConns = 5
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.MaxConnections = maxConns
		c.HTTP.ReadHeaderTimeout = time.Second
	}))
	wantHealthy(t, n)
	baseline := serveConns()
	var conns []net.Conn
	for range 2 * maxConns {
		c, err := net.Dial("tcp", n.Addr()) // the kernel accepts; the node may not yet
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_, _ = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	done := make(chan struct{})
	peak := 0
	go func() {
		defer close(done)
		client := &nodetest.Client{HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
		if r := client.Do(t, http.MethodGet, n.URL+"/healthz", "", nil); r.Status != 200 {
			t.Errorf("healthz behind the slow connections: %d %s", r.Status, r.Body)
		}
	}()
	for {
		if c := serveConns() - baseline; c > peak {
			peak = c
		}
		select {
		case <-done:
			if peak > maxConns {
				t.Fatalf("%d connections served at once, cap %d", peak, maxConns)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestSlowBody sends headers promptly but the body byte by byte: the read
// deadline ends the request and frees its goroutine.
func TestSlowBody(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.ReadTimeout = 500 * time.Millisecond
	}))
	wantHealthy(t, n)
	baseline := serveConns()
	var wg sync.WaitGroup
	for range 20 {
		c, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_, _ = fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nContent-Length: 1000\r\n\r\n", nodetest.PresencePath("@alice:example.org"))
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			go func() {
				for range 400 {
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
					time.Sleep(25 * time.Millisecond)
				}
			}()
			_, _ = io.Copy(io.Discard, c) // until the server closes
		}()
	}
	wantHealthy(t, n)
	wg.Wait()
	nodetest.Eventually(t, 10*time.Second, func() error {
		if got := serveConns(); got > baseline {
			return fmt.Errorf("%d goroutines serving connections, %d before", got, baseline)
		}
		return nil
	})
	wantHealthy(t, n)
}

// TestInFlightCap holds --max-in-flight requests open (their bodies never
// arrive) and checks that one more is refused with 503 and Retry-After,
// that probes still answer, and that the node serves again once they end.
func TestInFlightCap(t *testing.T) {
	n := nodetest.StartNode(t, nodetest.WithConfig(func(c *node.Config) {
		c.HTTP.MaxInFlight = 2
	}))
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		_, _ = fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice-token\r\nContent-Length: 100\r\n\r\n{", nodetest.PresencePath("@alice:example.org"))
	}
	client := &nodetest.Client{HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	get := func() *nodetest.Response {
		return client.Do(t, http.MethodGet, n.URL+nodetest.PresencePath("@alice:example.org"), "bob-token", nil)
	}
	var r *nodetest.Response
	nodetest.Eventually(t, 10*time.Second, func() error {
		if r = get(); r.Status != http.StatusServiceUnavailable {
			return fmt.Errorf("GET while the cap is reached: %d %s", r.Status, r.Body)
		}
		return nil
	})
	wantMatrixError(t, "over the in-flight cap", r.Status, r.Header, r.Body, 503, "M_UNKNOWN")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if h := client.Do(t, http.MethodGet, n.URL+"/readyz", "", nil); h.Status != 200 {
		t.Fatalf("readyz while busy: %d %s", h.Status, h.Body)
	}
	for _, c := range held {
		c.Close()
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if r := get(); r.Status != http.StatusOK {
			return fmt.Errorf("GET after the held requests ended: %d %s", r.Status, r.Body)
		}
		return nil
	})
}
