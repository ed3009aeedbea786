package node_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// TestShutdownUnderLoad shuts a node down while PUTs are in flight. It must
// report not ready at once, finish what is in flight (Shutdown returns no
// error, no request gets a 5xx other than 503), and every PUT it
// acknowledged must be in the stream when a node starts again on the same
// store.
func TestShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n, err := nodetest.TryStartNode(t, nodetest.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, n)
	l := newLedger()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var transport []error
	for _, u := range []int{30, 31, 32, 33, 34, 35, 36, 37} {
		wg.Go(func() {
			for k := 1; ; k++ {
				_, err := l.put(t, context.Background(), n, u, k)
				if err != nil {
					mu.Lock()
					transport = append(transport, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if l.okCount() < 50 {
			return errNotYet
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- n.Shutdown(ctx)
	}()
	nodetest.Eventually(t, 5*time.Second, func() error {
		if n.Ready() {
			return errf("still ready during shutdown")
		}
		return nil
	})
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	// After the listener closed, new requests are refused; a request sent
	// on a connection the server was closing as idle may see it close
	// (the client does not retry a PUT). Nothing else is acceptable.
	for _, err := range transport {
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) && !isEOF(err) {
			t.Errorf("request failed during shutdown: %v", err)
		}
	}
	t.Logf("%d PUTs acknowledged before and during shutdown", l.okCount())

	again, err := nodetest.TryStartNode(t, nodetest.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, again)
	l.verify(t, []*nodetest.Node{again})
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.HasSuffix(err.Error(), "EOF") ||
		strings.Contains(err.Error(), "server closed idle connection")
}
