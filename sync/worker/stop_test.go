package worker

import (
	"context"
	"testing"
	"time"

	"github.com/ctsync/ctsync/guestmap"
)

func TestDecideStop(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name string
		in   stopInput
		want StopReason
	}{
		{"nothing to watch", stopInput{Now: now}, ""},
		{"deadline far", stopInput{Now: now, Deadline: now.Add(time.Minute), Margin: 10 * time.Second}, ""},
		{"deadline just outside the margin", stopInput{Now: now, Deadline: now.Add(10*time.Second + time.Nanosecond), Margin: 10 * time.Second}, ""},
		{"deadline at the margin", stopInput{Now: now, Deadline: now.Add(10 * time.Second), Margin: 10 * time.Second}, StopTimeout},
		{"deadline passed", stopInput{Now: now, Deadline: now.Add(-time.Second), Margin: 10 * time.Second}, StopTimeout},
		{"lease healthy", stopInput{Now: now, LeaseTTL: time.Minute, LeaseLeft: 40 * time.Second}, ""},
		{"lease at a quarter", stopInput{Now: now, LeaseTTL: time.Minute, LeaseLeft: 15 * time.Second}, ""},
		{"lease in its last quarter", stopInput{Now: now, LeaseTTL: time.Minute, LeaseLeft: 14 * time.Second}, StopLease},
		{"no lease to watch", stopInput{Now: now, LeaseTTL: 0, LeaseLeft: -time.Second}, ""},
		{"shutdown", stopInput{Now: now, ShuttingDown: true}, StopShutdown},
		{"shutdown wins over the deadline", stopInput{Now: now, Deadline: now, ShuttingDown: true}, StopShutdown},
		{"lapsing lease wins over all", stopInput{Now: now, Deadline: now, ShuttingDown: true, LeaseTTL: time.Minute}, StopLease},
	} {
		if got := decideStop(c.in); got != c.want {
			t.Errorf("%s: decideStop(%+v) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestSoftMargin(t *testing.T) {
	for _, c := range []struct{ timeout, want time.Duration }{
		{30 * time.Minute, time.Minute},           // 10% = 3m, capped at 60s
		{5 * time.Minute, 30 * time.Second},       // 10%
		{time.Minute, 6 * time.Second},            // 10%
		{30 * time.Second, 5 * time.Second},       // at least 5s
		{20 * time.Second, 5 * time.Second},       // 5s = a quarter
		{8 * time.Second, 2 * time.Second},        // never more than a quarter
		{2 * time.Second, 500 * time.Millisecond}, // a tiny timeout still works
	} {
		if got := softMargin(c.timeout); got != c.want {
			t.Errorf("softMargin(%s) = %s, want %s", c.timeout, got, c.want)
		}
	}
}

func TestApplyRate(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := Progress{Phase: PhaseApply, ApplyStart: start, Planned: 1000, Applied: 100}
	if _, _, ok := (Progress{Phase: PhaseApply, ApplyStart: start, Planned: 10}).ApplyRate(start.Add(time.Minute)); ok {
		t.Error("a rate before anything was applied")
	}
	if _, _, ok := (Progress{Phase: PhaseRead, Read: 100}).ApplyRate(start.Add(time.Minute)); ok {
		t.Error("an apply rate while reading")
	}
	rate, eta, ok := p.ApplyRate(start.Add(2 * time.Minute))
	if !ok || rate != 50 || eta != 18*time.Minute {
		t.Errorf("ApplyRate = %v/min, eta %s, %v; want 50/min, 18m", rate, eta, ok)
	}
}

// A shutdown (the cycle's context cancelled) reaches the users in flight
// only after the grace, and stops new ones at once; a lost lease reaches
// them at once.
func TestShutdownGivesInFlightUsersAGrace(t *testing.T) {
	c := &cycle{p: &Pair{LeaseTTL: 400 * time.Millisecond}} // grace: 200ms
	ctx, cancel := context.WithCancel(context.Background())
	s := newStopper(ctx, nil, 0)
	defer s.close()
	work, stopWork := c.workContext(ctx)
	defer stopWork(nil)
	cancel()
	if r := s.check(); r != StopShutdown {
		t.Fatalf("after the shutdown: stop %q, want shutdown", r)
	}
	select {
	case <-s.soft.Done():
	default:
		t.Fatal("changes waiting for a slot still wait after the shutdown")
	}
	if work.Err() != nil {
		t.Fatal("the users in flight were cancelled at once")
	}
	<-work.Done() // after the grace

	lctx, lose := context.WithCancelCause(context.Background())
	work, stopWork = c.workContext(lctx)
	defer stopWork(nil)
	lose(guestmap.ErrLeaseLost)
	<-work.Done()
	if r := newStopper(lctx, nil, 0).check(); r != StopLease {
		t.Errorf("lost lease: stop %q, want lease", r)
	}
}
