package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/sync/plan"
)

// Pair is one source -> target pair and everything its cycle needs.
type Pair struct {
	PairName       string
	SourceTenantID string
	Source         Source
	Target         Target
	Store          guestmap.Store
	Rules          Rules
	// StampAttribute is the target's extension attribute slot for stamps.
	StampAttribute string
	// RedirectURL and SendInvitation shape invitations.
	RedirectURL    string
	SendInvitation bool
	// Limiter bounds concurrent writes into the target tenant; every pair
	// writing into one tenant shares one.
	Limiter  *Limiter
	LeaseTTL time.Duration
	// QuarantineRatio and QuarantineMinFailures decide quarantine.
	QuarantineRatio       float64
	QuarantineMinFailures int
	// Retry is the backoff for parked users.
	Retry Backoff
	Clock Clock
	Log   *slog.Logger
	// Progress, when set, hears how far a running cycle is: after each
	// page read, once planned, after each change applied, and at the end
	// (PhaseDone). It is called from concurrent apply tasks: it must be
	// safe for concurrent use and quick.
	Progress func(Progress)
	// SpoolDir is where a cycle keeps its source read while it plans it
	// (see spool): "" is the system's temporary directory.
	SpoolDir string
	// Sharing, when set, says whether this replica runs the pair at all
	// (replicas sharing a store split the pairs; see sync/shard). Nil
	// runs every pair whose lease it can take (`ctsync once`).
	Sharing Sharing
	// RevokeSessions makes the fast lane revoke the sign-in sessions of
	// the guests it disables (see fastlane.go).
	RevokeSessions bool
	// Groups is the pair's group sync (see groups.go); nil syncs no groups.
	Groups *GroupSync

	// lane shares the pair's lease between its cycle and its fast lane
	// in this process (see fastLane).
	lane fastLane
	// wroteState: a cycle of this process recorded the pair's state in the
	// store (its start): finding none later means the store lost it
	// (recoverMap).
	wroteState atomic.Bool
}

// Sharing decides which replica runs which pair.
type Sharing interface {
	// Turn says whether this replica runs pair now, and why not.
	Turn(ctx context.Context, pair string) (run bool, reason string)
}

// Name returns the pair's name.
func (p *Pair) Name() string { return p.PairName }

// Stamp returns the stamp value of a source user's guest.
func (p *Pair) Stamp(sourceID string) string {
	return directory.Stamp(p.SourceTenantID, sourceID)
}

func (p *Pair) now() time.Time {
	if p.Clock == nil {
		return time.Now()
	}
	return p.Clock.Now()
}

func (p *Pair) log() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}

// Cycle runs one cycle: lease, read, plan, apply, record. See
// docs/ARCHITECTURE.md, "One pair's cycle".
func (p *Pair) Cycle(ctx context.Context) Report { return p.cycle(ctx, "") }

// cycle runs one cycle; a non-empty expect is the digest of a reviewed
// plan the cycle must match before it writes (see Reviewed).
func (p *Pair) cycle(ctx context.Context, expect string) (rep Report) {
	rep = Report{Pair: p.PairName, Start: p.now()}
	defer func() { rep.End = p.now() }()

	if p.Sharing != nil {
		if run, why := p.Sharing.Turn(ctx, p.PairName); !run {
			rep.Skipped, rep.NotMine = why, true
			return rep
		}
	}
	lease, err := p.acquireCycleLease(ctx)
	if errors.Is(err, guestmap.ErrHeld) {
		rep.Skipped = "another ctsync holds the pair's lease"
		if holder, _, held, herr := p.Store.LeaseHolder(ctx, p.PairName); herr == nil && held && holder != "" {
			rep.HeldBy = holder
			rep.Skipped = "another ctsync (" + holder + ") holds the pair's lease"
		}
		return rep
	}
	if err != nil {
		rep.Err = fmt.Errorf("pair %s: take lease: %w", p.PairName, err)
		return rep
	}
	// Extend the lease while working; losing it cancels the cycle so no
	// further work is done under a lease someone else may now hold.
	ctx, stopKeeping := lease.KeepAlive(ctx)
	unshare := p.shareCycleLease(ctx, lease) // the fast lane runs under it meanwhile
	defer func() {
		unshare()
		stopKeeping()
		// Release with a fresh context: the cycle's may be cancelled.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = lease.Release(rctx)
	}()

	c := &cycle{p: p, lease: lease, rep: &rep, expect: expect}
	defer c.progress(PhaseDone, nil)
	if err := c.run(ctx); err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(cause, guestmap.ErrLeaseLost) {
			err = fmt.Errorf("%w (lease lost: %v)", err, cause)
		}
		rep.Err = fmt.Errorf("pair %s: %w", p.PairName, err)
		c.recordFailure(rep.Err)
	}
	return rep
}

// Backoff gives the wait before the n-th retry of a parked user.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

// Delay returns Base * 2^(attempt-1), capped at Max.
func (b Backoff) Delay(attempt int) time.Duration {
	base, max := b.Base, b.Max
	if base <= 0 {
		base = time.Minute
	}
	if max <= 0 {
		max = 6 * time.Hour
	}
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// scopedRules adapts Rules to plan.Policy for one cycle, answering group
// membership from the member set read at the start of the cycle.
type scopedRules struct {
	Rules
	members map[string]bool // nil: no group scope
}

func (s scopedRules) InScope(u directory.User) (bool, string) {
	return s.Rules.InScope(u, func(string) bool { return s.members[u.ID] })
}

var _ plan.Policy = scopedRules{}
