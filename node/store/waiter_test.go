package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestWaiterWaitsUntilAdvanced(t *testing.T) {
	w := NewWaiter()
	w.Advance(5)
	if err := w.Wait(context.Background(), 5); err != nil {
		t.Fatalf("wait for an applied sequence: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Wait(context.Background(), 7) }()
	w.Advance(6)
	select {
	case err := <-done:
		t.Fatalf("wait for 7 returned at 6: %v", err)
	default:
	}
	w.Advance(4) // never backwards
	w.Advance(7)
	if err := <-done; err != nil {
		t.Fatalf("wait for 7: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Wait(ctx, 8); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with an ended context: %v, want %v", err, context.Canceled)
	}
}

// TestWaiterAdvanceBeforeBlock: an Advance that lands after a waiter has
// looked at the sequence, but before it blocks, still wakes it. The hook
// puts the Advance in that window every time, where the test below only
// hopes to hit it.
func TestWaiterAdvanceBeforeBlock(t *testing.T) {
	w := NewWaiter()
	var once sync.Once
	w.beforeBlock = func() { once.Do(func() { w.Advance(1) }) }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Wait(ctx, 1); err != nil {
		t.Fatalf("the Advance between the look and the wait was lost: %v", err)
	}
}

// TestWaiterNoLostWakeup: a waiter started as the sequence is raised to
// what it waits for returns after that one Advance, with no later Advance to
// wake it.
func TestWaiterNoLostWakeup(t *testing.T) {
	w := NewWaiter()
	for seq := uint64(1); seq <= 20000; seq++ {
		done := make(chan error, 1)
		go func() { done <- w.Wait(context.Background(), seq) }()
		w.Advance(seq)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the waiter for %d was not woken by its Advance", seq)
		}
	}
}

// TestWaiterManyWaiters: waiters chasing a moving sequence all return.
func TestWaiterManyWaiters(t *testing.T) {
	w := NewWaiter()
	const last, waiters = 20000, 64
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(i + 1); seq <= last; seq += waiters * 37 {
				if err := w.Wait(ctx, seq); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for seq := uint64(1); seq <= last; seq++ {
		w.Advance(seq)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a waiter was not woken: %v", err)
	}
}
