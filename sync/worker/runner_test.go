package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock fires After channels only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []chan time.Time
	waiting chan struct{} // signalled on each After call
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_800_000_000, 0), waiting: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) After(time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, ch)
	c.mu.Unlock()
	c.waiting <- struct{}{}
	return ch
}

// fire releases every pending After.
func (c *fakeClock) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.waiters {
		w <- c.now
	}
	c.waiters = nil
}

type funcPair struct {
	name string
	n    atomic.Int32
	fn   func(n int32) Report
}

func (p *funcPair) Name() string { return p.name }
func (p *funcPair) Cycle(ctx context.Context) Report {
	return p.fn(p.n.Add(1))
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOncePanicAndFailureStayInTheirPair(t *testing.T) {
	good := &funcPair{name: "good", fn: func(int32) Report { return Report{Counts: map[string]int{"create": 2}} }}
	bad := &funcPair{name: "bad", fn: func(int32) Report { panic("boom") }}
	failing := &funcPair{name: "failing", fn: func(int32) Report { return Report{Err: errors.New("auth")} }}
	r := &Runner{Pairs: []Cycler{bad, good, failing}, Log: quietLog()}
	reps := r.Once(context.Background())
	if reps[0].Err == nil || reps[0].Pair != "bad" {
		t.Errorf("panicking pair: %+v", reps[0])
	}
	if reps[1].Err != nil || reps[1].Counts["create"] != 2 || reps[1].Pair != "good" {
		t.Errorf("good pair: %+v", reps[1])
	}
	if reps[2].Err == nil || !reps[2].Failed() {
		t.Errorf("failing pair: %+v", reps[2])
	}
}

func TestRunScheduleTriggerAndShutdown(t *testing.T) {
	clock := newFakeClock()
	p := &funcPair{name: "p", fn: func(int32) Report { return Report{} }}
	q := &funcPair{name: "q", fn: func(int32) Report { panic("every time") }}
	var reports atomic.Int32
	r := &Runner{Pairs: []Cycler{p, q}, Clock: clock, Log: quietLog(), Interval: time.Minute,
		CycleTimeout: time.Second, OnReport: func(Report) { reports.Add(1) }, SyncNowQuiet: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()

	waitFor := func(n int) {
		for i := 0; i < n; i++ {
			select {
			case <-clock.waiting:
			case <-time.After(10 * time.Second):
				t.Fatalf("pairs never went back to waiting")
			}
		}
	}
	waitFor(2) // both pairs ran their first cycle and wait for the interval
	if p.n.Load() != 1 || q.n.Load() != 1 {
		t.Fatalf("first cycles: p=%d q=%d", p.n.Load(), q.n.Load())
	}
	clock.fire() // the interval passes
	waitFor(2)
	if p.n.Load() != 2 || q.n.Load() != 2 {
		t.Fatalf("after interval: p=%d q=%d", p.n.Load(), q.n.Load())
	}
	// The trigger alone (no interval passing) starts a cycle. (The fake
	// clock moves so the request comes after the last cycle's start.)
	clock.mu.Lock()
	clock.now = clock.now.Add(time.Minute)
	clock.mu.Unlock()
	r.SyncNow()
	waitFor(2)
	if p.n.Load() != 3 || q.n.Load() != 3 {
		t.Fatalf("after SyncNow: p=%d q=%d", p.n.Load(), q.n.Load())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if reports.Load() != 6 {
		t.Errorf("reports: %d", reports.Load())
	}
}

// TestSyncNowCoalescesBurst: a burst of requests after a pair's cycle
// causes one extra cycle, not one per request.
func TestSyncNowCoalescesBurst(t *testing.T) {
	clock := newFakeClock()
	p := &funcPair{name: "p", fn: func(int32) Report { return Report{} }}
	r := &Runner{Pairs: []Cycler{p}, Clock: clock, Log: quietLog(), Interval: time.Minute, CycleTimeout: time.Second,
		SyncNowQuiet: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor := func() {
		select {
		case <-clock.waiting:
		case <-time.After(10 * time.Second):
			t.Fatalf("the pair never went back to waiting")
		}
	}
	waitFor()
	clock.mu.Lock()
	clock.now = clock.now.Add(time.Minute)
	clock.mu.Unlock()
	for range 1000 {
		r.SyncNow()
	}
	waitFor() // the one extra cycle ran
	// The interval passes: the next cycle is the scheduled one, third.
	clock.mu.Lock()
	clock.now = clock.now.Add(time.Minute)
	clock.mu.Unlock()
	clock.fire()
	waitFor()
	if n := p.n.Load(); n != 3 {
		t.Errorf("cycles after a burst of 1,000 requests and one interval: %d, want 3", n)
	}
}

// TestSyncNowRespectsQuarantine: a quarantined pair ignores requests
// until an admin lifts its quarantine.
func TestSyncNowRespectsQuarantine(t *testing.T) {
	clock := newFakeClock()
	p := &funcPair{name: "p", fn: func(int32) Report { return Report{Quarantined: true} }}
	var lifted atomic.Bool
	asked := make(chan struct{}, 10)
	r := &Runner{Pairs: []Cycler{p}, Clock: clock, Log: quietLog(), Interval: time.Minute, CycleTimeout: time.Second,
		StillQuarantined: func(context.Context, string) bool {
			// Read before signalling, so the test's next step cannot change
			// this answer.
			still := !lifted.Load()
			asked <- struct{}{}
			return still
		},
		SyncNowQuiet: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wait := func(ch <-chan struct{}, what string) {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	wait(clock.waiting, "the first cycle")
	clock.mu.Lock()
	clock.now = clock.now.Add(time.Minute)
	clock.mu.Unlock()
	r.SyncNow()
	wait(asked, "the quarantine check")
	if n := p.n.Load(); n != 1 {
		t.Fatalf("a quarantined pair cycled on request: %d cycles", n)
	}
	lifted.Store(true) // reset --quarantine
	r.SyncNow()
	wait(asked, "the second quarantine check")
	wait(clock.waiting, "the cycle after the quarantine was lifted")
	if n := p.n.Load(); n != 2 {
		t.Errorf("cycles once the quarantine was lifted: %d, want 2", n)
	}
}

// A cycle stopped at its cycle_timeout with users pending is followed by
// the next one at once, not after the interval; a shutdown-stopped or
// finished one waits for the interval.
func TestRunnerResumesAnIncompleteCycleAtOnce(t *testing.T) {
	clock := newFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &funcPair{name: "p", fn: func(n int32) Report {
		if n <= 3 {
			return Report{Stopped: StopTimeout, Pending: 10 * int(4-n)}
		}
		return Report{}
	}}
	r := &Runner{Pairs: []Cycler{p}, Clock: clock, Log: quietLog(), Interval: time.Hour}
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	<-clock.waiting // the fourth cycle, complete, waits for the interval
	if n := p.n.Load(); n != 4 {
		t.Fatalf("%d cycles before the first wait, want 4 (three incomplete resumed at once, then a complete one)", n)
	}
	cancel()
	<-done

	if (Report{Stopped: StopShutdown}).Resume() || (Report{Stopped: StopTimeout, Err: errors.New("x")}).Resume() || !(Report{Stopped: StopTimeout}).Resume() {
		t.Error("Resume: only a cycle stopped at its cycle_timeout with no error resumes at once")
	}
}
