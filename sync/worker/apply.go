package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
	"github.com/ctsync/ctsync/sync/plan"
)

// errFatal wraps errors that stop the pair rather than one user.
var errFatal = errors.New("stopping the pair")

// apply carries out a whole plan (see applier).
func (c *cycle) apply(ctx context.Context, pl *plan.Plan) {
	if c.stop == nil {
		// Not from run (`ctsync provision`): its own signal.
		c.stop = newStopper(ctx, c.lease, c.p.LeaseTTL)
		defer c.stop.close()
	}
	a := c.startApply(ctx, false)
	a.submit(pl, 0)
	a.wait(0)
}

// applier carries out a cycle's changes under the target tenant's limiter,
// through one pool for the whole cycle: a streamed cycle submits each
// chunk as it is planned, and submitting blocks while the pool is full, so
// the next chunk is planned while the last one's users are in flight. Each
// user's result is written to the map as soon as it is known (fenced by
// the lease), so a crash loses at most the users in flight, whom the stamp
// recovers.
//
// The cycle's stopper (c.stop) decides when to stop taking new users: the
// lease lapsing, the cycle's deadline near (cycle_timeout), or a shutdown.
// The users in flight then finish and are recorded; those not started are
// pending (c.pending), planned again by the next cycle. On a shutdown the
// users in flight get a short grace (shutdownGrace) before their Graph
// calls are cancelled.
type applier struct {
	c      *cycle
	work   context.Context
	cancel context.CancelCauseFunc
	lim    *Limiter
	wp     *pool.Pool
	// forget drops a user's entry from c.known once the user is done: a
	// streamed cycle keeps only the entries of the users in flight.
	forget                  bool
	planned, done, notTaken atomic.Int64
}

// startApply starts the apply step; c.stop must be set.
func (c *cycle) startApply(ctx context.Context, forget bool) *applier {
	work, cancel := c.workContext(ctx)
	lim := c.p.Limiter
	if lim == nil {
		lim = NewLimiter(4)
	}
	c.applyStarted()
	// As many tasks as the limiter may ever allow: it sizes itself
	// within that bound, and the tasks beyond its size wait for a slot.
	return &applier{c: c, work: work, cancel: cancel, lim: lim, forget: forget,
		wp: pool.New().WithMaxGoroutines(lim.Max())}
}

// stopped reports whether the cycle takes no new users any more: its
// stopper said so, or a fatal error cancelled the work.
func (a *applier) stopped() bool {
	return a.c.stop.check() != "" || a.work.Err() != nil
}

// submit queues a settled plan's changes; considered is the number of
// users the plan was made of, for progress. It blocks while the pool is
// full.
func (a *applier) submit(pl *plan.Plan, considered int) {
	c := a.c
	c.count("unchanged", pl.Unchanged)
	a.planned.Add(int64(len(pl.Changes)))
	c.progress(PhaseApply, func(pr *Progress) {
		pr.Considered += considered
		pr.Planned += len(pl.Changes)
	})
	for _, ch := range pl.Changes {
		a.wp.Go(func() { a.one(ch) })
	}
}

// one applies one change unless the cycle stopped taking new users.
func (a *applier) one(ch plan.Change) {
	c := a.c
	if a.forget {
		defer c.forget(ch.SourceID)
	}
	if c.stop.check() != "" {
		a.notTaken.Add(1)
		return
	}
	// Waiting for a slot stops when new users stop (c.stop.soft).
	started := false
	_ = a.lim.Do(c.stop.soft, func() {
		if c.stop.check() != "" || a.work.Err() != nil {
			return
		}
		started = true
		var paced directory.PaceMeter
		t0 := time.Now()
		err := c.applyOne(directory.WithPaceMeter(a.work, &paced), ch)
		switch {
		case errors.Is(err, errCutShort):
			started = false // pending after all
		case err != nil && errors.Is(err, errFatal):
			a.cancel(err)
		default:
			a.lim.Observe(time.Since(t0), paced.Total())
		}
	})
	if !started {
		a.notTaken.Add(1)
		return
	}
	n := int(a.done.Add(1))
	c.progress(PhaseApply, func(pr *Progress) { pr.Applied = max(pr.Applied, n) })
}

// wait waits for the changes submitted, and ends the apply step: unreached
// counts the changes and users the cycle never submitted (it stopped
// taking new users first), pending like those not started.
func (a *applier) wait(unreached int) {
	c := a.c
	a.wp.Wait()
	cause := context.Cause(a.work)
	a.cancel(nil)
	c.pending, c.applied = int(a.notTaken.Load())+unreached, int(a.done.Load())
	if cause != nil && errors.Is(cause, errFatal) {
		c.fatal = cause
	}
	if c.fatal != nil || c.pending == 0 {
		return
	}
	switch c.stop.check() {
	case StopLease:
		c.fatal = fmt.Errorf("the pair's lease could not be extended (the store is slow or out of reach): stopped taking new users before it lapsed; "+
			"what was done is recorded, and the next cycle goes on from there: %w", guestmap.ErrLeaseLost)
	case StopTimeout:
		if c.applied == 0 {
			// Nothing done: the next cycle would do just the same. Reading
			// and planning alone take the whole cycle_timeout.
			c.fatal = fmt.Errorf("cycle_timeout reached before any of %d planned changes was applied: reading and planning the pair take longer than [worker] cycle_timeout; raise it", a.planned.Load())
		}
	case "":
		// Not stopped, yet users not started: the cycle's context ended
		// (a lost lease); run reports it.
	}
}

// workContext is the context the apply step's users run under: the
// cycle's, except that a shutdown (ctx cancelled, not for its deadline nor
// a lost lease) reaches it only after a grace, so the users in flight
// finish and are recorded rather than being cut mid-Graph-call.
func (c *cycle) workContext(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	work, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	if d, ok := ctx.Deadline(); ok {
		var cancelDL context.CancelFunc
		work, cancelDL = context.WithDeadline(work, d)
		inner := cancel
		cancel = func(err error) { inner(err); cancelDL() }
	}
	var grace *time.Timer
	stopWatch := context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		if errors.Is(cause, context.DeadlineExceeded) || errors.Is(cause, guestmap.ErrLeaseLost) {
			cancel(cause)
			return
		}
		c.mu.Lock()
		grace = time.AfterFunc(c.shutdownGrace(), func() { cancel(cause) })
		c.mu.Unlock()
	})
	return work, func(err error) {
		stopWatch()
		c.mu.Lock()
		if grace != nil {
			grace.Stop()
		}
		c.mu.Unlock()
		cancel(err)
	}
}

// shutdownGrace is how long the users in flight may go on after a
// shutdown: ShutdownGrace, or less with a short lease (not extended once
// the cycle's context is cancelled), so their records are still fenced by
// a valid lease.
func (c *cycle) shutdownGrace() time.Duration {
	if ttl := c.p.LeaseTTL; ttl > 0 {
		return min(ShutdownGrace, ttl/2)
	}
	return ShutdownGrace
}

// applyOne applies one change and records its outcome.
func (c *cycle) applyOne(ctx context.Context, ch plan.Change) error {
	start := time.Now()
	out := outcome{change: ch, action: ch.Action}
	var err error
	switch ch.Action {
	case plan.Create:
		err = c.create(ctx, &out)
	case plan.Update, plan.Restore:
		err = c.update(ctx, &out)
	case plan.Disable, plan.SoftDelete, plan.HardDelete:
		err = c.destroy(ctx, &out)
	case plan.Stage:
		out.state = guestmap.StateStaged
	case plan.Park:
		err = errors.New(ch.Reason)
	}
	out.duration = time.Since(start)
	if err != nil && c.stoppedUnder(ctx, err) {
		// The cycle's own stop (its deadline, a shutdown) cancelled the
		// user's Graph calls: no failure of the user's, and nothing to
		// record; the user is pending, planned again by the next cycle
		// (the delta link is not committed). A pre-invitation mark stays
		// as it was written, so an invitation that went out is adopted.
		releaseLock(ctx, out.lock)
		return errCutShort
	}
	if err != nil {
		if errors.Is(err, directory.ErrFatal) {
			err = fmt.Errorf("%w: %w", errFatal, err)
		}
		out.err = err
	}
	return errors.Join(err, c.record(ctx, out))
}

// releaseLock releases a user's lock (nil: none) with a short context of
// its own: the cycle's may be done. A lock already lost is no error here.
func releaseLock(ctx context.Context, l *guestmap.Lease) {
	if l == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = l.Release(rctx)
}

// errCutShort: a user's change was cancelled by the cycle's own stop; it
// is pending, not failed (see applyOne).
var errCutShort = errors.New("cut short by the cycle's stop")

// stoppedUnder reports whether err ended a user's change because the
// cycle stopped for its deadline or a shutdown (not a lost lease: that is
// a failure): the users' context ended, or a Graph call gave up retrying
// because its next try would come after the cycle's deadline (the call
// then returns its last failure, matching directory.ErrOutOfTime).
func (c *cycle) stoppedUnder(ctx context.Context, err error) bool {
	if _, has := ctx.Deadline(); has && c.stop != nil && errors.Is(err, directory.ErrOutOfTime) {
		// Out of time for the cycle's deadline, whether or not the
		// margin was reached: the cycle stops for it, so it ends
		// incomplete and the user is pending (its delta link is not
		// committed), not failed.
		c.stop.outOfTime()
		return true
	}
	if ctx.Err() == nil || c.stop == nil {
		return false
	}
	r := c.stop.stopped()
	return r == StopTimeout || r == StopShutdown
}

// outcome is what applying one change did, to be recorded.
type outcome struct {
	change  plan.Change
	action  plan.Action // as done: create may become adopt or skip
	guestID string
	state   guestmap.State
	set     map[string]any
	old     map[string]any
	drop    bool // remove the entry (hard delete)
	skipped string
	// stage, when set, holds the user for an admin (an adoption to
	// decide) instead of the plan's staged action.
	stage    *guestmap.Staged
	lock     *guestmap.Lease
	err      error
	duration time.Duration
}

// record writes the outcome to the map and the log in one fenced batch.
func (c *cycle) record(ctx context.Context, o outcome) error {
	p, ch := c.p, o.change
	prev, hadEntry := c.entry(ch.SourceID)
	rec := guestmap.Record{Time: p.now(), Pair: p.PairName, Cycle: c.id(), SourceID: ch.SourceID, GuestID: firstNonEmpty(o.guestID, ch.GuestID),
		Action: string(o.action), Result: "ok", Duration: o.duration, Changes: changesOf(o.set, o.old)}
	b := guestmap.Batch{}
	// The report counts what the store recorded: a batch that fails counts
	// for nothing (the user is planned again).
	var after []func()
	if o.lock != nil {
		b.Unlock = []*guestmap.Lease{o.lock}
	}
	switch {
	case o.err != nil:
		e := prev
		if !hadEntry {
			e = guestmap.Entry{SourceID: ch.SourceID, Created: p.now()}
		}
		e.GuestID = firstNonEmpty(o.guestID, e.GuestID)
		if e.GuestUPN == "" {
			// So that `ctsync status --pair` names the user by mail
			// (the guest's, once invited) and not only by ID.
			e.GuestUPN = firstNonEmpty(ch.User.Str(directory.PropMail), ch.User.Str(directory.PropUPN))
		}
		b.Put = []guestmap.Entry{park(e, o.err.Error(), p.now(), p.Retry)}
		rec.Result, rec.Error = "parked", o.err.Error()
		if errors.As(o.err, new(*plan.ConflictError)) {
			rec.Result = "conflict"
		}
		after = append(after, func() { c.count("failed", 1); c.addFailure() })
	case o.skipped != "" || o.action == plan.Skip:
		rec.Result, rec.Error = "skipped", firstNonEmpty(o.skipped, ch.Reason)
		after = append(after, func() { c.count("skip", 1) })
		if ch.Rejected && hadEntry {
			e := prev
			e.State = guestmap.StateActive
			b.Put, b.Unstage = []guestmap.Entry{e}, []string{ch.SourceID}
			rec.Action, rec.Result = string(ch.Staged), "rejected"
		}
	case o.action == plan.Stage:
		st := guestmap.Staged{SourceID: ch.SourceID, GuestID: ch.GuestID, Action: string(ch.Staged), Reason: ch.Reason, Since: p.now()}
		if o.stage != nil {
			st = *o.stage
			rec.Action = st.Action
		}
		b.Stage = []guestmap.Staged{st}
		e := prev
		if !hadEntry {
			e = guestmap.Entry{SourceID: ch.SourceID, Created: p.now(), GuestUPN: ch.User.Str(directory.PropMail)}
		}
		e.State = guestmap.StateStaged
		b.Put = []guestmap.Entry{e}
		rec.Result, rec.Error = "staged", st.Reason
		after = append(after, func() { c.count("stage", 1) })
	case o.drop:
		b.Delete = []string{ch.SourceID}
		b.Unstage = []string{ch.SourceID}
		after = append(after, func() { c.count(string(o.action), 1); c.noteLeft(ch.SourceID) })
	default:
		e := prev
		if !hadEntry || e.Created.IsZero() {
			e.Created = p.now()
		}
		e.SourceID = ch.SourceID
		e.GuestID = firstNonEmpty(o.guestID, ch.GuestID, e.GuestID)
		e.Stamp = p.Stamp(ch.SourceID)
		e.State = o.state
		e.Attempts, e.NextRetry, e.LastError = 0, time.Time{}, ""
		if o.state == guestmap.StateActive {
			e.AttrHash = ch.Hash
			e.ManagerSourceID, e.ManagerPending = ch.ManagerSourceID, ch.ManagerPending
			if upn := ch.User.Str(directory.PropMail); upn != "" {
				e.GuestUPN = upn
			}
		}
		b.Put = []guestmap.Entry{e}
		if _, staged := c.staged[ch.SourceID]; staged {
			b.Unstage = []string{ch.SourceID}
		}
		after = append(after, func() {
			c.count(string(o.action), 1)
			switch {
			case o.action == plan.Create || o.action == plan.Adopt || o.action == plan.Restore:
				c.noteArrived(ch.SourceID, o.action == plan.Restore)
			case ch.Event != "" && ch.Event != policy.Disabled:
				c.noteLeft(ch.SourceID) // out of scope or deleted
			}
		})
	}
	b.Log = []guestmap.Record{rec}
	if err := p.Store.Apply(ctx, c.lease, b); err != nil {
		// The batch that would have released the user's lock failed (a
		// cancelled cycle, a lost lease): release it now, so the user's
		// next attempt is not refused for the lock's TTL.
		releaseLock(ctx, o.lock)
		if c.stoppedUnder(ctx, err) {
			return errCutShort // the cycle's own stop: pending, not failed
		}
		return fmt.Errorf("%w: record %s of %s: %w", errFatal, o.action, ch.SourceID, err)
	}
	for _, f := range after {
		f()
	}
	c.logOutcome(ch, rec, o.err)
	return nil
}

// logOutcome logs one user's outcome: a parked user or a conflict as a
// warning (someone may have to act), anything else at debug. The names
// come from the directory: the log handler escapes them.
func (c *cycle) logOutcome(ch plan.Change, rec guestmap.Record, err error) {
	l := c.p.log()
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelWarn
	}
	if !l.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{slog.String("pair", c.p.PairName), slog.String("action", rec.Action), slog.String("result", rec.Result),
		slog.String("src", rec.SourceID)}
	if rec.GuestID != "" {
		attrs = append(attrs, slog.String("guest", rec.GuestID))
	}
	if u := firstNonEmpty(ch.User.Str(directory.PropUPN), ch.User.Str(directory.PropMail)); u != "" {
		attrs = append(attrs, slog.String("user", u))
	}
	if n := ch.User.Str(directory.PropDisplayName); n != "" {
		attrs = append(attrs, slog.String("name", n))
	}
	if err != nil {
		attrs = append(attrs, slog.Any("error", err))
	}
	l.LogAttrs(context.Background(), level, "user "+rec.Result, attrs...)
}

// update restores the guest if asked, reads it by ID, checks that it is
// still ours, then patches only what differs. A new mail that another
// user of the target holds is a conflict, reported and not applied.
func (c *cycle) update(ctx context.Context, o *outcome) error {
	p, ch := c.p, o.change
	if ch.Action == plan.Restore {
		if err := p.Target.Restore(ctx, ch.GuestID); err != nil && !errors.Is(err, directory.ErrNotFound) {
			return fmt.Errorf("restore guest %s: %w", ch.GuestID, err)
		}
	}
	g, err := p.Target.Get(ctx, ch.GuestID, c.updateProps(ch))
	if err != nil {
		return fmt.Errorf("read guest %s: %w", ch.GuestID, err)
	}
	if err := plan.CheckOwned(*g, p.StampAttribute, p.Stamp(ch.SourceID), ch.Action); err != nil {
		return err
	}
	if ch.NeedsDiff {
		ch.Narrow(*g)
	}
	if mail, ok := ch.Set[directory.PropMail].(string); ok && mail != "" {
		if err := c.checkMailFree(ctx, ch.GuestID, mail); err != nil {
			return err
		}
	}
	if len(ch.Set) > 0 {
		if err := p.Target.Update(ctx, ch.GuestID, ch.Set); err != nil {
			if errors.Is(err, directory.ErrConflict) {
				return &plan.ConflictError{Reason: fmt.Sprintf("update of guest %s refused by the target: %v", ch.GuestID, err)}
			}
			return fmt.Errorf("update guest %s: %w", ch.GuestID, err)
		}
	}
	o.change = ch
	o.set, o.old, o.state = ch.Set, ch.Old, guestmap.StateActive
	return nil
}

// updateProps are what an update reads of the guest: the properties it
// may write (to narrow the change) and those that prove ownership.
func (c *cycle) updateProps(ch plan.Change) []string {
	props := c.ownershipProps()
	for k := range ch.Set {
		if k != directory.PropManager {
			props = append(props, k)
		}
	}
	sort.Strings(props)
	return slices.Compact(props)
}

// checkMailFree refuses a mail change to an address another user of the
// target holds: two users would share it. The lagging mail index may miss
// a recent holder; Graph's own refusal (a proxyAddresses conflict) is the
// backstop, turned into the same conflict by update.
func (c *cycle) checkMailFree(ctx context.Context, guestID, mail string) error {
	holders, err := c.p.Target.FindByMail(ctx, mail)
	if err != nil {
		return fmt.Errorf("look for other holders of mail %s: %w", mail, err)
	}
	for _, u := range holders {
		if u.ID != guestID {
			return &plan.ConflictError{Reason: fmt.Sprintf("the new mail %s of guest %s is already held by %s; the change is not applied", mail, guestID, plan.Describe(u, c.p.StampAttribute))}
		}
	}
	return nil
}

// destroy disables, soft-deletes or hard-deletes a guest after reading it
// by ID and checking that it still carries this pair's stamp for this
// source user: the map may be stale or rebuilt, and a destructive action
// on the wrong account disables a real person.
func (c *cycle) destroy(ctx context.Context, o *outcome) error {
	p, ch := c.p, o.change
	g, err := p.Target.Get(ctx, ch.GuestID, c.ownershipProps())
	switch {
	case errors.Is(err, directory.ErrNotFound) && ch.Action != plan.Disable:
		// Not among the live users: already deleted. A hard delete still
		// purges it from deleted items: object IDs are never reused, and
		// ctsync checked the stamp when it soft-deleted the guest.
		if ch.Action == plan.SoftDelete {
			o.state = guestmap.StateSoftDeleted
			return nil
		}
	case err != nil:
		return fmt.Errorf("read guest %s before %s: %w", ch.GuestID, ch.Action, err)
	default:
		if err := plan.CheckOwned(*g, p.StampAttribute, p.Stamp(ch.SourceID), ch.Action); err != nil {
			return err
		}
	}
	switch ch.Action {
	case plan.Disable:
		off := map[string]any{directory.PropAccountEnabled: false}
		err = p.Target.Update(ctx, ch.GuestID, off)
		o.state, o.set = guestmap.StateDisabled, off
	case plan.SoftDelete:
		err = p.Target.SoftDelete(ctx, ch.GuestID)
		o.state = guestmap.StateSoftDeleted
	case plan.HardDelete:
		err = p.Target.HardDelete(ctx, ch.GuestID)
		o.drop = true
	}
	if errors.Is(err, directory.ErrNotFound) && ch.Action != plan.Disable {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("%s guest %s: %w", ch.Action, ch.GuestID, err)
	}
	return nil
}

// park returns e parked after a failure: retried after the attempt's
// backoff, with why it failed.
func park(e guestmap.Entry, why string, now time.Time, retry Backoff) guestmap.Entry {
	e.State = guestmap.StateParked
	e.Attempts++
	e.NextRetry = now.Add(retry.Delay(e.Attempts))
	e.LastError = why
	return e
}

func changesOf(set, old map[string]any) []guestmap.Change {
	if len(set) == 0 {
		return nil
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]guestmap.Change, 0, len(keys))
	for _, k := range keys {
		out = append(out, guestmap.Change{Prop: k, Old: old[k], New: set[k]})
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (c *cycle) id() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cycleID == "" {
		c.cycleID = c.rep.Start.UTC().Format("20060102T150405.000Z")
	}
	return c.cycleID
}

func (c *cycle) count(kind string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rep.count(kind, n)
}

func (c *cycle) addFailure() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rep.Failures++
}

// noteArrived records a user whose guest arrived this cycle; restored:
// an existing guest restored from deleted items, not a new one.
func (c *cycle) noteArrived(id string, restored bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arrived = append(c.arrived, id)
	if restored {
		if c.restored == nil {
			c.restored = map[string]bool{}
		}
		c.restored[id] = true
	}
}

// restoredNow reports whether a user's guest was restored this cycle (see
// noteArrived).
func (c *cycle) restoredNow(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restored[id]
}

func (c *cycle) noteLeft(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.left = append(c.left, id)
}

func (c *cycle) entry(id string) (guestmap.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.known[id]
	return e, ok
}

// forget drops what the cycle knows of a user it is done with.
func (c *cycle) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.known, id)
}

func (c *cycle) setEntry(e guestmap.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.known[e.SourceID] = e
}
