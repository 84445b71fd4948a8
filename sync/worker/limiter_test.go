package worker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// A cancelled context never runs fn, even with free slots: otherwise a
// cycle cut short would start the rest of its changes only to fail them.
func TestLimiterDoesNotRunCancelledWork(t *testing.T) {
	l := NewLimiter(4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 1000; i++ {
		ran := false
		if err := l.Do(ctx, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("try %d: err %v, ran %v", i, err, ran)
		}
	}
	ran := false
	if err := l.Do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("live context: err %v, ran %v", err, ran)
	}
}

func TestDecideSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   sizeInput
		want int
	}{
		{"budget left, users queue: grow a quarter", sizeInput{Size: 16, Min: 4, Max: 64, PacedShare: 0.01, ContendedShare: 0.9}, 20},
		{"small sizes grow by one at least", sizeInput{Size: 2, Min: 1, Max: 64, PacedShare: 0, ContendedShare: 1}, 3},
		{"at the bound", sizeInput{Size: 60, Min: 4, Max: 64, PacedShare: 0, ContendedShare: 1}, 64},
		{"budget left, nobody queues: the slots are not the limit", sizeInput{Size: 16, Min: 4, Max: 64, PacedShare: 0.01, ContendedShare: 0.2}, 16},
		{"pacer holds users back: shrink a fifth", sizeInput{Size: 40, Min: 4, Max: 64, PacedShare: 0.6, ContendedShare: 1}, 32},
		{"a 429's Retry-After counts as held back", sizeInput{Size: 5, Min: 4, Max: 64, PacedShare: 0.9, ContendedShare: 0}, 4},
		{"in between: keep", sizeInput{Size: 24, Min: 4, Max: 64, PacedShare: 0.1, ContendedShare: 1}, 24},
		{"fixed bounds", sizeInput{Size: 8, Min: 8, Max: 8, PacedShare: 0, ContendedShare: 1}, 8},
	} {
		if got := decideSize(tc.in); got != tc.want {
			t.Errorf("%s: decideSize(%+v) = %d, want %d", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestAdaptiveLimiterResizes: users that queue and are never paced grow
// the slots, and more users then run at once; paced users shrink them,
// and no new user starts above the new size.
func TestAdaptiveLimiterResizes(t *testing.T) {
	l := NewAdaptiveLimiter(4, 2, 32)
	if l.Size() != 4 || l.Max() != 32 {
		t.Fatalf("size %d, max %d", l.Size(), l.Max())
	}
	// Hold every slot and queue one more user, so observations are
	// contended.
	hold := make(chan struct{})
	var started sync.WaitGroup
	for range 4 {
		started.Add(1)
		go func() { _ = l.Do(context.Background(), func() { started.Done(); <-hold }) }()
	}
	started.Wait()
	queued := make(chan struct{})
	go func() { _ = l.Do(context.Background(), func() { close(queued) }) }()
	for !waitingFor(l) {
		time.Sleep(time.Millisecond)
	}
	for range 8 {
		l.Observe(time.Second, 0)
	}
	if got := l.Size(); got != 5 {
		t.Fatalf("after 8 unpaced, contended users: size %d, want 5", got)
	}
	<-queued // the grown slot let the queued user in without any release
	close(hold)
	for l.inUseNow() > 0 {
		time.Sleep(time.Millisecond)
	}
	for range 8 {
		l.Observe(time.Second, 500*time.Millisecond)
	}
	if got := l.Size(); got != 4 {
		t.Fatalf("after 8 users paced half their time: size %d, want 4", got)
	}
	// A fixed limiter ignores observations.
	f := NewLimiter(3)
	for range 100 {
		f.Observe(time.Second, 0)
	}
	if f.Size() != 3 || f.Max() != 3 {
		t.Errorf("fixed limiter resized: %d/%d", f.Size(), f.Max())
	}
}

func waitingFor(l *Limiter) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiting > 0
}

func (l *Limiter) inUseNow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inUse
}
