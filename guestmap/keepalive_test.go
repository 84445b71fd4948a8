package guestmap

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestKeepAlive(t *testing.T) {
	s, err := Open(ctx, filepath.Join(t.TempDir(), "k.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := mustAcquire(t, s, pairAB, 300*time.Millisecond)
	kctx, cancel := l.KeepAlive(ctx)
	defer cancel()
	time.Sleep(700 * time.Millisecond) // more than two TTLs: only extensions keep it
	if kctx.Err() != nil {
		t.Fatalf("keep-alive gave up: %v", context.Cause(kctx))
	}
	if _, err := s.Acquire(ctx, pairAB, time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("lease lapsed under keep-alive: %v", err)
	}
	// Someone else ends the lease (an admin forcing it free): the cycle's
	// context is cancelled with ErrLeaseLost.
	bs := s.(*boltStore)
	bs.mu.Lock()
	delete(bs.leases, leaseKey{pair: pairAB})
	bs.mu.Unlock()
	_ = mustAcquire(t, s, pairAB, time.Minute)
	select {
	case <-kctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("keep-alive did not notice the loss")
	}
	if err := context.Cause(kctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("cause %v", err)
	}
}
