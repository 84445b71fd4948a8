package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ctsync/ctsync/guestmap"
)

// StopReason says why a cycle stopped taking new users ("" it did not).
// A cycle stops taking new users before it would be cut off mid-change, so
// that the users in flight finish and are recorded; the users it did not
// start are pending, planned again by the next cycle.
type StopReason string

// Reasons to stop taking new users.
const (
	// StopLease: the pair's lease is in its last quarter (two extensions
	// failed: a slow or unreachable store). The cycle fails: the store
	// needs a look.
	StopLease StopReason = "lease"
	// StopTimeout: the cycle's deadline (`[worker] cycle_timeout`) is
	// within its margin (see softMargin). Normal work for a long first
	// sync: the cycle is incomplete, not failed, and the runner starts the
	// next one at once.
	StopTimeout StopReason = "cycle_timeout"
	// StopShutdown: the process is shutting down (SIGTERM, SIGINT); the
	// users in flight get ShutdownGrace to finish. Incomplete, not failed.
	StopShutdown StopReason = "shutdown"
)

// ShutdownGrace is how long the users in flight may go on after a
// shutdown was asked before their Graph calls are cancelled (see
// cycle.workContext): enough for one user's few Graph calls and its record.
const ShutdownGrace = 10 * time.Second

// softMargin is how long before its deadline a cycle stops taking new
// users: 10% of the timeout, at least 5s (one user's Graph calls with a
// retry, its record, and the status write at the end), at most 60s (a user
// in flight never needs more; a longer margin only wastes the cycle), and
// never more than a quarter of the timeout, so that a tiny timeout still
// leaves most of it to work.
func softMargin(timeout time.Duration) time.Duration {
	m := min(max(timeout/10, 5*time.Second), time.Minute)
	return min(m, timeout/4)
}

// stopInput is what the decision to stop taking new users rests on.
type stopInput struct {
	Now time.Time
	// Deadline is the cycle's hard deadline (zero: none), Margin how long
	// before it new users stop.
	Deadline time.Time
	Margin   time.Duration
	// LeaseTTL (zero: no lease to watch) and LeaseLeft, the time the
	// lease is still trusted.
	LeaseTTL, LeaseLeft time.Duration
	// ShuttingDown: the process was asked to stop.
	ShuttingDown bool
}

// decideStop says whether a cycle stops taking new users, and why. A
// lapsing lease wins (it is a failure: the store needs a look), then a
// shutdown, then the deadline.
func decideStop(in stopInput) StopReason {
	switch {
	case in.LeaseTTL > 0 && in.LeaseLeft < in.LeaseTTL/4:
		// KeepAlive extends the lease every third of its TTL: in its last
		// quarter two extensions in a row have failed, and the next
		// failure would lose it.
		return StopLease
	case in.ShuttingDown:
		return StopShutdown
	case !in.Deadline.IsZero() && !in.Now.Before(in.Deadline.Add(-in.Margin)):
		return StopTimeout
	}
	return ""
}

// stopper is a cycle's one "stop taking new users" signal. The first
// reason found sticks: a cycle that stopped for its deadline does not
// start again, and reports that reason.
type stopper struct {
	ctx      context.Context // the cycle's
	lease    *guestmap.Lease // nil: none to watch
	ttl      time.Duration
	deadline time.Time
	margin   time.Duration
	// soft is done once the cycle must stop taking new users for its
	// deadline or because ctx ended, so that changes waiting for a slot of
	// the target's limiter stop waiting.
	soft       context.Context
	cancelSoft context.CancelFunc

	mu     sync.Mutex
	reason StopReason
}

// newStopper watches ctx (its deadline, and its end: a shutdown or a lost
// lease) and the lease. Call close when done.
func newStopper(ctx context.Context, lease *guestmap.Lease, ttl time.Duration) *stopper {
	s := &stopper{ctx: ctx, lease: lease, ttl: ttl}
	s.soft, s.cancelSoft = context.WithCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		s.deadline = d
		// The timeout as the cycle sees it: from now, close to the
		// cycle's start (the lease was just taken).
		s.margin = softMargin(time.Until(d))
		cancel := s.cancelSoft
		s.soft, s.cancelSoft = context.WithDeadline(s.soft, d.Add(-s.margin))
		inner := s.cancelSoft
		s.cancelSoft = func() { inner(); cancel() }
	}
	return s
}

func (s *stopper) close() { s.cancelSoft() }

// check returns why the cycle stops taking new users, "" to go on.
func (s *stopper) check() StopReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason != "" {
		return s.reason
	}
	in := stopInput{Now: time.Now(), Deadline: s.deadline, Margin: s.margin}
	if s.lease != nil && s.ttl > 0 {
		in.LeaseTTL, in.LeaseLeft = s.ttl, s.lease.Remaining()
	}
	if s.ctx.Err() != nil {
		switch cause := context.Cause(s.ctx); {
		case errors.Is(cause, guestmap.ErrLeaseLost):
			in.LeaseLeft = -1
			in.LeaseTTL = max(in.LeaseTTL, 1)
		case errors.Is(cause, context.DeadlineExceeded):
			in.Deadline, in.Margin = in.Now, 0
		default:
			in.ShuttingDown = true
		}
	}
	s.reason = decideStop(in)
	return s.reason
}

// late reports whether the cycle, stopped for its deadline, is so near
// it that even the managers step must leave the rest to the next cycle:
// the last quarter of the margin is kept to record the cycle's end.
func (s *stopper) late() bool {
	if s.ctx.Err() != nil {
		return true
	}
	return !s.deadline.IsZero() && !time.Now().Before(s.deadline.Add(-s.margin/4))
}

// outOfTime stops the cycle for its deadline before its margin: a user's
// Graph call gave up a retry that would have come after the deadline (a
// long Retry-After, a backoff), so the users that follow would meet the
// same end. It keeps an earlier reason.
func (s *stopper) outOfTime() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason == "" {
		s.reason = StopTimeout
	}
	s.cancelSoft()
}

// stopped returns the reason found so far, without looking again.
func (s *stopper) stopped() StopReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}
