package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/panics"
)

// Cycler is one pair as the runner sees it: something that runs a cycle.
type Cycler interface {
	// Name is the pair's name.
	Name() string
	// Cycle runs one cycle and reports what happened. Errors that stop the
	// cycle are in the report, so the runner needs no other channel.
	Cycle(ctx context.Context) Report
}

// Clock is the time source of the schedule; tests use a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Runner runs every pair on its schedule, concurrently. One pair's panic,
// timeout or failure never stops the others: each runs in its own goroutine
// with its own deadline and panic recovery, and no pair's error cancels
// another (unlike errgroup's cancel-on-error).
type Runner struct {
	Pairs []Cycler
	// Interval between the end of a cycle and the start of the next.
	Interval time.Duration
	// QuarantineInterval replaces Interval for a pair in quarantine.
	QuarantineInterval time.Duration
	// CycleTimeout bounds one cycle of one pair.
	CycleTimeout time.Duration
	Clock        Clock
	Log          *slog.Logger
	// OnReport, when set, receives every cycle's report (metrics, tests).
	OnReport func(Report)

	once    sync.Once
	trigger chan struct{}
}

func (r *Runner) init() {
	r.once.Do(func() {
		r.trigger = make(chan struct{}, 1)
		if r.Clock == nil {
			r.Clock = SystemClock{}
		}
		if r.Log == nil {
			r.Log = slog.Default()
		}
		if r.Interval <= 0 {
			r.Interval = time.Minute
		}
		if r.QuarantineInterval <= 0 {
			r.QuarantineInterval = time.Hour
		}
		if r.CycleTimeout <= 0 {
			r.CycleTimeout = 30 * time.Minute
		}
	})
}

// SyncNow asks every pair to start its next cycle now instead of waiting for
// its interval (SIGHUP, POST /sync). Pairs in a cycle start another when it
// ends. Safe to call from any goroutine, any number of times.
func (r *Runner) SyncNow() {
	r.init()
	select {
	case r.trigger <- struct{}{}:
	default: // a trigger is already pending
	}
}

// Run cycles every pair until ctx is done, then waits for the cycles in
// flight to stop (they see ctx's cancellation and abandon their work at a
// safe point, releasing their leases).
func (r *Runner) Run(ctx context.Context) {
	r.init()
	// Fan one trigger out to every pair's loop.
	triggers := make([]chan struct{}, len(r.Pairs))
	for i := range triggers {
		triggers[i] = make(chan struct{}, 1)
	}
	var wg conc.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.trigger:
				for _, t := range triggers {
					select {
					case t <- struct{}{}:
					default:
					}
				}
			}
		}
	})
	for i, p := range r.Pairs {
		wg.Go(func() { r.loop(ctx, p, triggers[i]) })
	}
	wg.Wait()
}

func (r *Runner) loop(ctx context.Context, p Cycler, trigger <-chan struct{}) {
	for {
		rep := r.cycle(ctx, p)
		if ctx.Err() != nil {
			return
		}
		wait := r.Interval
		if rep.Quarantined {
			wait = r.QuarantineInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-trigger:
		case <-r.Clock.After(wait):
		}
	}
}

// Once runs one cycle of every pair concurrently and returns their reports
// in the order of Pairs.
func (r *Runner) Once(ctx context.Context) []Report {
	r.init()
	reports := make([]Report, len(r.Pairs))
	var wg conc.WaitGroup
	for i, p := range r.Pairs {
		wg.Go(func() { reports[i] = r.cycle(ctx, p) })
	}
	wg.Wait()
	return reports
}

// cycle runs one cycle of p with its deadline, turning a panic into a
// failed report.
func (r *Runner) cycle(ctx context.Context, p Cycler) (rep Report) {
	ctx, cancel := context.WithTimeout(ctx, r.CycleTimeout)
	defer cancel()
	start := r.Clock.Now()
	var c panics.Catcher
	c.Try(func() { rep = p.Cycle(ctx) })
	if rec := c.Recovered(); rec != nil {
		rep = Report{Pair: p.Name(), Start: start, End: r.Clock.Now(), Err: fmt.Errorf("pair %s: cycle panicked: %v", p.Name(), rec.Value)}
		r.Log.Error("cycle panicked", "pair", p.Name(), "panic", rec.Value, "stack", string(rec.Stack))
	}
	if rep.Pair == "" {
		rep.Pair = p.Name()
	}
	r.logReport(rep)
	if r.OnReport != nil {
		r.OnReport(rep)
	}
	return rep
}

func (r *Runner) logReport(rep Report) {
	attrs := []any{"pair", rep.Pair, "duration", rep.End.Sub(rep.Start).Round(time.Millisecond)}
	for _, k := range rep.Kinds() {
		attrs = append(attrs, k, rep.Counts[k])
	}
	switch {
	case rep.Err != nil:
		r.Log.Error("cycle failed", append(attrs, "error", rep.Err)...)
	case rep.Skipped != "":
		r.Log.Info("cycle skipped", append(attrs, "reason", rep.Skipped)...)
	default:
		r.Log.Info("cycle done", append(attrs, "failures", rep.Failures)...)
	}
}
