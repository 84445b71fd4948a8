package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
)

// fixManagers sets the manager of guests whose manager got a guest this
// cycle, and clears it on guests whose manager left scope or was deleted
// (Entra's own sync never clears it, leaving stale org charts). It scans
// the map only in cycles where a manager may have arrived or left, so a
// quiet cycle costs nothing here.
//
// After a cycle that was cut short (c.interrupted), the managers that
// arrived in it are not known any more: then every guest still waiting for
// its manager's guest (Entry.ManagerPending) is checked against the map.
func (c *cycle) fixManagers(ctx context.Context) error {
	p := c.p
	if !p.Rules.MapsManager() || (len(c.arrived) == 0 && len(c.left) == 0 && !c.interrupted) {
		return nil
	}
	if c.cutShort(ctx) {
		reason := StopReason("")
		if c.stop != nil {
			reason = c.stop.check()
		}
		if len(c.left) == 0 && (reason == StopTimeout || reason == StopShutdown) {
			// Nothing to clear: the guests waiting for a manager that
			// arrived keep ManagerPending, and the next cycle writes
			// them because it knows this one was incomplete. So say it
			// is: the deadline may come between the apply step's end,
			// where run checked it, and here; a cycle recorded complete
			// would leave those guests without their manager for good.
			c.incomplete = reason
			return nil
		}
		// Find the fixes all the same (store reads only), so the clears
		// are parked for the next cycle (see leaveUnfixed).
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	arrived, err := c.arrivedGuests(ctx)
	if err != nil {
		return err
	}
	left := make(map[string]bool, len(c.left))
	for _, id := range c.left {
		left[id] = true
	}
	var fixes []managerFix
	var waiting []guestmap.Entry // pending, manager not arrived this cycle
	err = p.Store.Scan(ctx, p.PairName, func(page []guestmap.Entry) error {
		for _, e := range page {
			if e.ManagerSourceID == "" || e.GuestID == "" || (e.State != guestmap.StateActive && e.State != guestmap.StateDisabled) {
				continue
			}
			if m, ok := arrived[e.ManagerSourceID]; ok && (e.ManagerPending || c.restoredNow(e.ManagerSourceID)) {
				// A manager with a new guest (created, adopted) needs
				// writing only where it was pending: a report planned
				// after the manager's create (a later chunk) got it then.
				// A restored one is written again on every report.
				fixes = append(fixes, managerFix{e, m})
			} else if left[e.ManagerSourceID] {
				fixes = append(fixes, managerFix{e, nil})
			} else if c.interrupted && e.ManagerPending {
				waiting = append(waiting, e)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan map for direct reports: %w", err)
	}
	if len(waiting) > 0 {
		more, err := c.managersArrived(ctx, waiting)
		if err != nil {
			return err
		}
		fixes = append(fixes, more...)
	}
	return c.writeManagers(ctx, fixes)
}

// writeManagers writes the fixes through the target tenant's limiter, as
// the apply step writes its users: one at a time, a first sync's thousands
// of manager references would take several times the write quota's pace.
// The fixes not written when the cycle is cut short are left to the next
// cycle (see leaveUnfixed).
func (c *cycle) writeManagers(ctx context.Context, fixes []managerFix) error {
	lim := c.p.Limiter
	if lim == nil {
		lim = NewLimiter(4)
	}
	var mu sync.Mutex
	var unfixed []managerFix
	var failed error
	wp := pool.New().WithMaxGoroutines(lim.Max())
	for _, f := range fixes {
		wp.Go(func() {
			done := false
			_ = lim.Do(ctx, func() {
				if c.cutShort(ctx) {
					return
				}
				var paced directory.PaceMeter
				t0 := time.Now()
				ok, err := c.writeManager(directory.WithPaceMeter(ctx, &paced), f)
				lim.Observe(time.Since(t0), paced.Total())
				done = ok || err != nil
				if err != nil {
					mu.Lock()
					failed = cmp.Or(failed, err)
					mu.Unlock()
				}
			})
			if !done {
				mu.Lock()
				unfixed = append(unfixed, f)
				mu.Unlock()
			}
		})
	}
	wp.Wait()
	if failed != nil {
		return failed
	}
	if len(unfixed) > 0 {
		return c.leaveUnfixed(ctx, unfixed)
	}
	return nil
}

// writeManager writes one guest's manager reference and records it; a
// failed write parks the guest. It reports false, with no error, when the
// cycle's context ended before the write was done.
func (c *cycle) writeManager(ctx context.Context, f managerFix) (bool, error) {
	p := c.p
	set := map[string]any{directory.PropManager: f.manager}
	rec := guestmap.Record{Time: p.now(), Pair: p.PairName, Cycle: c.id(), SourceID: f.e.SourceID, GuestID: f.e.GuestID,
		Action: "manager", Result: "ok", Changes: changesOf(set, nil)}
	b := guestmap.Batch{}
	var after func()
	if err := p.Target.Update(ctx, f.e.GuestID, set); err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		// Parked, so the user is planned again after its backoff and
		// the manager written then; nothing else brings it back, as
		// the user itself did not change at the source.
		rec.Result, rec.Error = "parked", err.Error()
		b.Put = []guestmap.Entry{parkManager(f.e, f.manager != nil, err, p.now(), p.Retry)}
		after = c.addFailure
	} else {
		after = func() { c.count("manager", 1) }
		if f.e.ManagerPending {
			e := f.e
			e.ManagerPending = false // written now
			b.Put = []guestmap.Entry{e}
		}
	}
	b.Log = []guestmap.Record{rec}
	if err := p.Store.Apply(ctx, c.lease, b); err != nil {
		if ctx.Err() != nil {
			return false, nil // written, not recorded: the next cycle writes it again
		}
		return false, fmt.Errorf("record manager update: %w", err)
	}
	after()
	return true, nil
}

// arrivedGuests returns the active guest of each manager that arrived
// this cycle, read from the map a thousand at a time: only the guest IDs
// are kept, as a first sync's arrivals are the whole tenant.
func (c *cycle) arrivedGuests(ctx context.Context) (map[string]string, error) {
	out, err := guestIDs(ctx, c.p, c.arrived, activeGuest)
	if err != nil {
		return nil, fmt.Errorf("read arrived managers: %w", err)
	}
	return out, nil
}

// managersArrived returns the fixes of waiting guests whose manager has an
// active guest by now.
func (c *cycle) managersArrived(ctx context.Context, waiting []guestmap.Entry) ([]managerFix, error) {
	ids := make([]string, 0, len(waiting))
	for _, e := range waiting {
		ids = append(ids, e.ManagerSourceID)
	}
	managers, err := guestIDs(ctx, c.p, ids, activeGuest)
	if err != nil {
		return nil, fmt.Errorf("read the managers of guests waiting for them: %w", err)
	}
	var fixes []managerFix
	for _, e := range waiting {
		if g, ok := managers[e.ManagerSourceID]; ok {
			fixes = append(fixes, managerFix{e, g})
		}
	}
	return fixes, nil
}

// activeGuest keeps the entries whose guest is active.
func activeGuest(e guestmap.Entry) bool { return e.State == guestmap.StateActive }

// guestIDs reads the entries of ids (source IDs) 1,000 at a time and
// returns source ID -> guest ID for those with a guest that keep accepts.
func guestIDs(ctx context.Context, p *Pair, ids []string, keep func(guestmap.Entry) bool) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for chunk := range slices.Chunk(ids, 1000) {
		got, err := p.Store.GetMany(ctx, p.PairName, chunk)
		if err != nil {
			return nil, err
		}
		for id, e := range got {
			if e.GuestID != "" && keep(e) {
				out[id] = e.GuestID
			}
		}
	}
	return out, nil
}

// managerFix is one guest whose manager reference must be written.
type managerFix struct {
	e       guestmap.Entry
	manager any // guest ID, or nil to clear
}

// cutShort reports whether the managers step must leave the rest to the
// next cycle: the cycle's context ended, it stopped for a shutdown, or it
// stopped for its deadline and is in the last quarter of the margin.
func (c *cycle) cutShort(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	if c.stop == nil {
		return false
	}
	switch c.stop.check() {
	case StopShutdown:
		return true
	case StopTimeout:
		return c.stop.late()
	}
	return false
}

// leaveUnfixed ends a managers step cut short. When the cycle stopped for
// its deadline or a shutdown, it is incomplete, not failed: guests waiting
// for a manager that arrived keep ManagerPending, and the next cycle
// (which sees this one incomplete: c.interrupted) writes them; the other
// fixes (clears) are parked, due at once, as nothing else would bring
// them back. Otherwise (a lost lease) every fix left is parked and the
// cycle fails, as in parkUnfixed.
func (c *cycle) leaveUnfixed(ctx context.Context, rest []managerFix) error {
	reason := StopReason("")
	if c.stop != nil {
		reason = c.stop.check()
	}
	cause := context.Cause(ctx)
	if cause == nil {
		cause = fmt.Errorf("stopped at %s", reason)
	}
	if reason != StopTimeout && reason != StopShutdown {
		return c.parkUnfixed(rest, cause)
	}
	var park []managerFix
	for _, f := range rest {
		if f.manager == nil || !f.e.ManagerPending {
			park = append(park, f)
		}
	}
	c.incomplete = reason
	if len(park) == 0 {
		return nil
	}
	if err := c.parkUnfixed(park, cause); err != nil && !errors.Is(err, errUnfixed) {
		return err
	}
	return nil
}

// errUnfixed marks parkUnfixed's report of an interruption (its parking
// succeeded).
var errUnfixed = errors.New("managers left for the next cycle")

// parkUnfixed parks the guests whose manager an interrupted cycle (a
// shutdown, a lost lease, the cycle timeout) did not get to, so the next
// cycle writes them: nothing else would, as their users did not change at
// the source. It writes with a short context of its own (the cycle's is
// done); the lease still fences it. It returns the interruption.
func (c *cycle) parkUnfixed(rest []managerFix, cause error) error {
	p := c.p
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b := guestmap.Batch{}
	for _, f := range rest {
		e := parkManager(f.e, f.manager != nil, fmt.Errorf("cycle interrupted before the manager was written: %w", cause), p.now(), p.Retry)
		e.NextRetry = p.now() // due at once: this was no failure of the user's
		b.Put = append(b.Put, e)
	}
	err := fmt.Errorf("cycle interrupted while writing managers (%d left, parked for the next cycle): %w", len(rest), cause)
	if aerr := p.Store.Apply(ctx, c.lease, b); aerr != nil {
		return fmt.Errorf("%w; parking them failed too: %w", err, aerr)
	}
	return fmt.Errorf("%w (%w)", err, errUnfixed)
}

// parkManager returns e parked after a failed manager update. A failed
// set forgets the recorded manager, so the retry's plan sees it differ and
// writes it; a failed clear keeps it (the retry's plan clears a manager
// that has no guest, see plan's resolveManager).
func parkManager(e guestmap.Entry, setting bool, err error, now time.Time, retry Backoff) guestmap.Entry {
	if setting {
		e.ManagerSourceID = ""
	}
	return park(e, "manager: "+err.Error(), now, retry)
}
