package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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
	// CycleTimeout bounds one cycle of one pair. A cycle stops taking new
	// users a margin before it (see softMargin) and ends incomplete, not
	// failed; the pair's next cycle then starts at once and goes on.
	CycleTimeout time.Duration
	Clock        Clock
	Log          *slog.Logger
	// OnReport, when set, receives every cycle's report (metrics, tests).
	OnReport func(Report)
	// SyncNowQuiet and SyncNowMaxDelay coalesce sync-now requests: a
	// request is answered by the pair's next cycle to start after it, and
	// that cycle starts once requests have been quiet for SyncNowQuiet
	// (default 2s), or SyncNowMaxDelay (default 10s) after the first of
	// them, so a burst of requests causes one extra cycle per pair, not
	// one per request. Both run on the wall clock, like the requests.
	SyncNowQuiet    time.Duration
	SyncNowMaxDelay time.Duration
	// StillQuarantined, when set, tells whether a pair is quarantined now
	// (in the store: an admin may have lifted it, or a replica set it,
	// since the pair's last cycle). Sync-now requests never cycle a
	// quarantined pair early: a pair in quarantine fails most of its
	// writes, and hammering the target is what quarantine is there to
	// stop. When nil, a pair whose last cycle reported quarantine ignores
	// requests until its next cycle.
	StillQuarantined func(ctx context.Context, pair string) bool
	// FastInterval, when positive, runs the fast lane of every pair that
	// has one (FastLaner) in Run, every FastInterval between the end of a
	// round and the start of the next (see fastlane.go); 0 runs none.
	FastInterval time.Duration
	// OnFast, when set, receives every fast round's report (metrics).
	OnFast func(FastReport)

	once    sync.Once
	trigger chan struct{}
	// requested is the clock time (UnixNano) of the latest SyncNow.
	requested atomic.Int64
	// tick is the wall time (UnixNano) the scheduler last proved alive.
	tick atomic.Int64
}

// heartbeat is how often the scheduler goroutine records that it is alive
// (see LastTick).
const heartbeat = time.Second

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
		if r.SyncNowQuiet <= 0 {
			r.SyncNowQuiet = 2 * time.Second
		}
		if r.SyncNowMaxDelay <= 0 {
			r.SyncNowMaxDelay = 10 * time.Second
		}
	})
}

// LastTick returns when Run's scheduler goroutine last proved alive (zero
// before Run starts and after it returns). It ticks every second whatever
// the pairs do, so a stale tick means the process loop is stuck: /livez.
func (r *Runner) LastTick() time.Time {
	n := r.tick.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// SyncNow asks every pair to start its next cycle now instead of waiting for
// its interval (SIGHUP, POST /sync). Requests coalesce: a pair starts one
// cycle for all the requests made before it starts, a moment after they
// stop coming (SyncNowQuiet); a pair in a cycle starts another when it
// ends; a quarantined pair waits for its quarantine interval (see
// StillQuarantined). Safe to call from any goroutine, any number of times.
func (r *Runner) SyncNow() {
	r.init()
	r.requested.Store(r.Clock.Now().UnixNano())
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
		// The heartbeat runs on the wall clock, not r.Clock: liveness is
		// about the real process, and a test's fake clock must not see an
		// extra waiter.
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		r.tick.Store(time.Now().UnixNano())
		defer r.tick.Store(0)
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				r.tick.Store(now.UnixNano())
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
		if f, ok := p.(FastLaner); ok && r.FastInterval > 0 {
			wg.Go(func() { r.fastLoop(ctx, f) })
		}
	}
	wg.Wait()
}

func (r *Runner) loop(ctx context.Context, p Cycler, trigger <-chan struct{}) {
	for {
		start := r.Clock.Now()
		rep := r.cycle(ctx, p)
		if ctx.Err() != nil {
			return
		}
		if rep.Resume() {
			// Stopped at its cycle_timeout with users pending (a long
			// first sync): go on at once, from where it stopped.
			continue
		}
		wait := r.Interval
		if rep.Quarantined {
			wait = r.QuarantineInterval
		}
		r.wait(ctx, p.Name(), start, rep.Quarantined, r.Clock.After(wait), trigger)
		if ctx.Err() != nil {
			return
		}
	}
}

// wait returns when the pair's next cycle is due: its interval passed
// (timer), or sync-now requests made after the cycle that started at start
// have been quiet for SyncNowQuiet (or waited SyncNowMaxDelay) and the
// pair is not quarantined. Requests a quarantined pair must not heed are
// dropped without restarting the timer.
func (r *Runner) wait(ctx context.Context, pair string, start time.Time, quarantined bool, timer <-chan time.Time, trigger <-chan struct{}) {
	var quiet <-chan time.Time // nil until a request needs a cycle
	var first time.Time        // wall time of the first such request
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer:
			return
		case <-quiet:
			// Asked once per burst, just before the early cycle: an admin
			// may have quarantined or released the pair since its last
			// cycle.
			if r.StillQuarantined != nil && r.StillQuarantined(ctx, pair) {
				r.Log.Info("sync-now request ignored: the pair is quarantined", "pair", pair)
				quiet = nil
				continue
			}
			return
		case <-trigger:
			asked := time.Unix(0, r.requested.Load())
			if !asked.After(start) {
				continue // made before the last cycle started: answered
			}
			if quarantined && r.StillQuarantined == nil {
				r.Log.Info("sync-now request ignored: the pair is quarantined", "pair", pair)
				continue
			}
			now := time.Now()
			if quiet == nil {
				first = now
			}
			d := min(r.SyncNowQuiet, max(r.SyncNowMaxDelay-now.Sub(first), 0))
			quiet = time.After(d)
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
	case rep.NotMine:
		// Another replica's share: said at every interval, so quietly.
		r.Log.Debug("cycle skipped", append(attrs, "reason", rep.Skipped)...)
	case rep.Skipped != "":
		r.Log.Info("cycle skipped", append(attrs, "reason", rep.Skipped)...)
	case rep.Stopped != "":
		// Normal work (a long first sync, a shutdown), not a failure.
		r.Log.Info("cycle incomplete", append(attrs, "stopped_at", string(rep.Stopped), "pending", rep.Pending, "failures", rep.Failures)...)
	default:
		r.Log.Info("cycle done", append(attrs, "failures", rep.Failures)...)
	}
}
