package worker

import (
	"context"
	"errors"
	"testing"
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
