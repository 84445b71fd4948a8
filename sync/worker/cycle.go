package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/sync/plan"
)

// cycle is the state of one pair's cycle.
type cycle struct {
	p     *Pair
	lease *guestmap.Lease // nil in a dry run
	rep   *Report
	dry   bool
	// expect is the digest of a reviewed plan to match ("" none).
	expect string
	// interrupted: the pair's previous cycle was cut short (see
	// guestmap.Status.Running) or stopped incomplete, so managers that
	// arrived in it may still be unwritten on their reports' guests.
	interrupted bool

	// stop is the cycle's "stop taking new users" signal (see stopper).
	stop *stopper
	// incomplete is why the cycle stopped before doing all its work
	// (cycle_timeout, shutdown; "" it did not): the users it did not start
	// (pending) and managers it did not write are the next cycle's.
	incomplete StopReason
	// pending and applied count the planned changes not started and done.
	pending, applied int

	status guestmap.Status
	staged map[string]guestmap.Staged
	// stagedPlan is staged as the plan takes it.
	stagedPlan map[string]plan.Staged
	members    map[string]bool
	// groups is the pair's groups state, read and folded before the users
	// when the user scope is by groups (readGroups), with the delta link
	// to commit after a complete user phase (syncGroups); nil otherwise.
	groups    *groupStep
	groupLink string
	// moved are the users who joined or left the scope's groups in the
	// groups delta; scanMembers: they could not be worked out (no stored
	// state, a full round), the map is scanned for the leavers instead.
	moved       []string
	scanMembers bool
	known       map[string]guestmap.Entry
	// settled records the source IDs whose outcome is known this cycle
	// (created, restored, removed), for manager fix-ups.
	arrived, left []string
	// restored are the arrived users whose guest was restored, not new
	// (see noteArrived): few, where arrived holds a first sync's every user.
	restored map[string]bool
	// dryPlan is the plan of a dry run.
	dryPlan *plan.Plan

	// mu guards what concurrent apply tasks share: the report's counts,
	// known entries, arrived/left and fatal.
	mu      sync.Mutex
	cycleID string
	fatal   error
	prog    Progress

	// domains are the source tenant's verified domains, read once per
	// cycle on first need (guarded by domainsMu: the read is a Graph call).
	domainsMu sync.Mutex
	domains   map[string]bool
}

// run is the body of Cycle under a held lease.
func (c *cycle) run(ctx context.Context) error {
	p := c.p
	var err error
	if c.status, err = p.Store.Status(ctx, p.PairName); err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	c.rep.Quarantined = c.status.Quarantine.On
	// A reviewed plan was made without the rebuild (a dry run writes
	// nothing): skip it too, so the plans compare. The create step still
	// finds every stamped guest by its stamp.
	if !c.dry && c.expect == "" {
		if err := c.recoverMap(ctx); err != nil {
			return err
		}
	}
	var note string
	if c.dry {
		if note, err = c.dryRecoveryNote(ctx); err != nil {
			return err
		}
	}
	if !c.dry {
		if err := c.markRunning(ctx); err != nil {
			return err
		}
	}
	if err := c.loadStaged(ctx); err != nil {
		return err
	}
	sp, link, full, err := c.read(ctx)
	if err != nil {
		return err
	}
	defer sp.close()
	c.rep.Full = full
	if c.dry || c.expect != "" {
		// A plan to show or to check against a reviewed one is whole:
		// every change in memory (see planAll).
		pl, err := c.planAll(ctx, sp)
		if err != nil {
			return err
		}
		if c.expect != "" {
			if d := plan.Digest(pl, p.Rules.Fingerprint()); d != c.expect {
				return fmt.Errorf("%w (reviewed plan %s, now %s, with %d changes): run ctsync plan --out again and review it", ErrPlanMoved, c.expect, d, len(pl.Changes))
			}
		}
		if c.dry {
			if note != "" {
				pl.Notes = append(pl.Notes, note)
			}
			if pl.Groups, err = c.syncGroups(ctx); err != nil {
				return fmt.Errorf("plan groups: %w", err)
			}
			c.dryPlan = pl
			return nil
		}
		c.stop = newStopper(ctx, c.lease, p.LeaseTTL)
		defer c.stop.close()
		c.apply(ctx, pl)
	} else {
		c.stop = newStopper(ctx, c.lease, p.LeaseTTL)
		defer c.stop.close()
		if err := c.stream(ctx, sp); err != nil {
			return err
		}
	}
	if c.fatal != nil {
		return c.fatal
	}
	if c.pending > 0 {
		c.incomplete = c.stop.stopped()
	}
	if err := ctx.Err(); err != nil && c.incomplete == "" {
		// Every change was done, but the cycle's context ended since:
		// the rest (managers, the record of its end) is the next cycle's
		// unless the lease is gone.
		switch r := c.stop.check(); r {
		case StopTimeout, StopShutdown:
			c.incomplete = r
		default:
			return fmt.Errorf("cycle interrupted: %w", err)
		}
	}
	c.progress(PhaseManagers, nil)
	if err := c.fixManagers(ctx); err != nil {
		return err
	}
	c.rep.Pending, c.rep.Stopped = c.pending, c.incomplete
	if c.incomplete == "" && ctx.Err() == nil {
		// Groups after a complete user phase: their members are guests.
		if _, err := c.syncGroups(ctx); err != nil {
			c.rep.GroupErr = fmt.Errorf("groups: %w", err)
			p.log().Warn("group sync failed; the users' cycle is recorded, the groups are retried next cycle", "pair", p.PairName, "err", err)
		}
	}
	return c.finish(ctx, link)
}

// markRunning records that this cycle runs, and learns whether the one
// before it was cut short without recording its end.
func (c *cycle) markRunning(ctx context.Context) error {
	c.interrupted = c.status.Running != "" || (len(c.status.History) > 0 && c.status.History[0].Incomplete != "")
	st := c.status
	st.Pair, st.Running = c.p.PairName, c.id()
	if err := c.p.Store.Apply(ctx, c.lease, guestmap.Batch{Status: &st}); err != nil {
		return fmt.Errorf("record the cycle's start: %w", err)
	}
	c.p.wroteState.Store(true)
	c.status = st
	return nil
}

// progress reports how far the cycle is: ph, and what update changes
// (nil: the phase only). Apply tasks call it concurrently.
func (c *cycle) progress(ph Phase, update func(*Progress)) {
	if c.p.Progress == nil {
		return
	}
	c.mu.Lock()
	pr := &c.prog
	pr.Pair, pr.Start, pr.Phase = c.p.PairName, c.rep.Start, ph
	if update != nil {
		update(pr)
	}
	snap := *pr
	c.mu.Unlock()
	c.p.Progress(snap)
}

// applyStarted notes when the apply step began, for the apply rate.
func (c *cycle) applyStarted() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prog.ApplyStart = time.Now()
}

// loadStaged reads the actions held for an admin and their decisions.
func (c *cycle) loadStaged(ctx context.Context) error {
	staged, err := c.p.Store.Staged(ctx, c.p.PairName)
	if err != nil {
		return fmt.Errorf("read staged actions: %w", err)
	}
	c.staged = make(map[string]guestmap.Staged, len(staged))
	c.stagedPlan = nil
	if len(staged) > 0 {
		c.stagedPlan = make(map[string]plan.Staged, len(staged))
	}
	for _, s := range staged {
		c.staged[s.SourceID] = s
		c.stagedPlan[s.SourceID] = plan.Staged{Action: plan.Action(s.Action), Verdict: plan.Verdict(s.Decision), By: s.DecidedBy, GuestID: s.GuestID}
	}
	return nil
}

// read spools the users to plan this cycle and returns them with the
// delta link to commit once they are handled.
func (c *cycle) read(ctx context.Context) (sp *spool, link string, full bool, err error) {
	p := c.p
	props := p.Rules.SourceProperties()
	if len(p.Rules.Groups()) > 0 {
		if src := c.groupSource(); src != nil {
			if err := c.readGroups(ctx, src); err != nil {
				return nil, "", false, err
			}
		} else if c.members, err = c.readMembers(ctx); err != nil {
			return nil, "", false, err
		}
	}
	old, err := p.Store.DeltaLink(ctx, p.PairName)
	if err != nil {
		return nil, "", false, fmt.Errorf("read delta link: %w", err)
	}
	if fp := c.status.PolicyHash; old != "" && fp != 0 && fp != p.Rules.Fingerprint() {
		// A new scope or mapping concerns every user, not only those the
		// delta would bring: read everything. The deletion threshold
		// still holds back a mass of deletes, and `ctsync plan` shows
		// the effect before a real cycle does it.
		p.log().Info("the pair's scope or mappings changed; reading the source in full", "pair", p.PairName)
		old = ""
	}
	buf := newSpool(p.SpoolDir)
	link, err = p.Source.Delta(ctx, old, props, c.spoolPage(buf))
	if err != nil && old != "" && errors.Is(err, directory.ErrSyncStateExpired) {
		// The delta token expired (about 7 days unused): read everything
		// again. Absent users are confirmed one by one before anything is
		// deleted, so an expiry never turns into mass deletes.
		p.log().Warn("delta token expired; reading the source in full", "pair", p.PairName)
		_ = buf.close()
		buf, old = newSpool(p.SpoolDir), ""
		link, err = p.Source.Delta(ctx, "", props, c.spoolPage(buf))
	}
	if err != nil {
		_ = buf.close()
		return nil, "", false, fmt.Errorf("read source: %w", err)
	}
	full = old == ""
	if err := c.usersToRevisit(ctx, buf, full); err != nil {
		_ = buf.close()
		return nil, "", false, err
	}
	return buf, link, full, nil
}

// spoolPage returns the page callback of a read into sp.
func (c *cycle) spoolPage(sp *spool) func([]directory.User) error {
	scope := scopedRules{Rules: c.p.Rules, members: c.members}
	inScope := func(u directory.User) bool { in, _ := scope.InScope(u); return in }
	return func(page []directory.User) error {
		for _, u := range page {
			if err := sp.add(u, mailKey(u, inScope)); err != nil {
				return err
			}
		}
		c.progress(PhaseRead, func(pr *Progress) { pr.Read = sp.len() })
		return nil
	}
}

// readMembers reads the union of the scope's groups (a source that does
// not read groups deltas).
func (c *cycle) readMembers(ctx context.Context) (map[string]bool, error) {
	members := map[string]bool{}
	for _, g := range c.p.Rules.Groups() {
		ids, err := c.p.Source.GroupMembers(ctx, g, c.p.Rules.Transitive())
		if err != nil {
			return nil, fmt.Errorf("read members of group %s: %w", g, err)
		}
		for _, id := range ids {
			members[id] = true
		}
	}
	return members, nil
}

// readManagers fills the "manager" attribute of the users read that do
// not carry it yet. A delta round that selects the manager reports it
// (manager@delta) only when it changed, and a read by ID cannot select it,
// so the others are read through $batch.
func (c *cycle) readManagers(ctx context.Context, users []directory.User) error {
	var ids []string
	for _, u := range users {
		if _, reported := u.Attrs[directory.PropManager]; u.Removed == directory.NotRemoved && !reported {
			ids = append(ids, u.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	managers, err := c.p.Source.Managers(ctx, ids)
	if err != nil {
		return fmt.Errorf("read managers: %w", err)
	}
	for i := range users {
		if _, reported := users[i].Attrs[directory.PropManager]; users[i].Removed != directory.NotRemoved || reported {
			continue
		}
		if users[i].Attrs == nil {
			users[i].Attrs = map[string]any{}
		}
		if m, ok := managers[users[i].ID]; ok {
			users[i].Attrs[directory.PropManager] = m
		} else {
			users[i].Attrs[directory.PropManager] = nil
		}
	}
	return nil
}

// usersToRevisit adds to the spool the users the delta did not mention but
// the cycle must plan: parked users due for a retry, group-scope members
// that joined or left (as the groups delta says, see readGroups, or by a
// scan of the map), and (after a full read) mapped users the source no
// longer has.
func (c *cycle) usersToRevisit(ctx context.Context, sp *spool, full bool) error {
	p := c.p
	// The members of the scope's groups are read in full (no groups
	// state), or the groups state could not tell who moved: scan the map
	// for the users who left them.
	members := c.members != nil && (c.groups == nil || c.scanMembers)
	// After a failed cycle the parked count is stale (only a finished
	// cycle counts): scan, so users it parked come back.
	needScan := full || members || c.status.Counts["parked"] > 0 || len(c.staged) > 0 || c.status.ConsecutiveFailures > 0
	var fetch, gone []string
	fetched := map[string]bool{}
	if needScan {
		now := p.now()
		mapped := map[string]bool{}
		err := p.Store.Scan(ctx, p.PairName, func(page []guestmap.Entry) error {
			for _, e := range page {
				mapped[e.SourceID] = true
				if sp.seen(e.SourceID) {
					continue
				}
				switch {
				case full && e.State != guestmap.StateSoftDeleted:
					gone = append(gone, e.SourceID) // confirmed below
				case e.State == guestmap.StateParked && !e.NextRetry.After(now):
					fetch = append(fetch, e.SourceID)
				case members && !c.members[e.SourceID] && e.State != guestmap.StateSoftDeleted:
					fetch = append(fetch, e.SourceID) // left the groups
				case decidedNow(c.staged[e.SourceID]):
					fetch = append(fetch, e.SourceID) // an admin decided
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("scan map: %w", err)
		}
		if members {
			for id := range c.members {
				if !sp.seen(id) && !mapped[id] {
					fetch = append(fetch, id) // joined the groups
				}
			}
		}
		for _, id := range fetch {
			fetched[id] = true
		}
		for _, id := range gone {
			fetched[id] = true
		}
	}
	if !members {
		// The groups delta said who joined or left the scope's groups.
		for _, id := range c.moved {
			if !sp.seen(id) && !fetched[id] {
				fetch = append(fetch, id)
			}
		}
	}
	props := p.Rules.SourceProperties()
	add := c.spoolPage(sp)
	for _, id := range append(fetch, gone...) {
		u, err := p.Source.User(ctx, id, props)
		switch {
		case err == nil:
		case errors.Is(err, directory.ErrNotFound):
			// Gone from the source: plan it as hard-deleted (its guest
			// gets the hard_deleted lifecycle action).
			u = &directory.User{ID: id, Removed: directory.HardDeleted}
		default:
			return fmt.Errorf("re-read source user %s: %w", id, err)
		}
		if err := add([]directory.User{*u}); err != nil {
			return err
		}
	}
	return nil
}

// chunkSize is how many users a cycle plans at a time: enough for few
// store and $batch round trips, few enough that two chunks (one planned,
// one applying) weigh little.
const chunkSize = 500

// stream plans the spooled users chunk by chunk and applies each chunk's
// changes as it is planned, through one pool, so the writes never wait for
// planning. The destructive changes wait for the end: the deletion
// threshold is about the whole cycle. Once the cycle stops taking new
// users, the chunks not planned yet are pending with the planned changes
// not started.
func (c *cycle) stream(ctx context.Context, sp *spool) error {
	dups := sp.duplicates()
	c.progress(PhaseApply, func(pr *Progress) { pr.Read = sp.len() })
	a := c.startApply(ctx, true)
	later := &plan.Plan{}
	reached := 0
	errStopped := errors.New("stopped")
	err := sp.chunks(chunkSize, func(users []directory.User) error {
		if a.stopped() {
			return errStopped
		}
		d, err := c.draft(ctx, users, dups)
		if err != nil {
			return err
		}
		reached += len(users)
		later.Merge(slim(d.Split()))
		d.Settle(0, c.planStaged())
		a.submit(d, len(users))
		return nil
	})
	if err == nil && !a.stopped() {
		later.Settle(c.p.Rules.DeletionThreshold(), c.planStaged())
		a.submit(later, 0)
		later = &plan.Plan{}
	}
	a.wait(len(later.Changes) + sp.len() - reached)
	if err != nil && !errors.Is(err, errStopped) {
		return err
	}
	return nil
}

// planAll plans the whole read at once: for a dry run, and for a cycle
// that must match a reviewed plan's digest before any write. It holds
// every change in memory (a first sync of a large tenant is better run
// without a reviewed plan: its changes are all creates).
func (c *cycle) planAll(ctx context.Context, sp *spool) (*plan.Plan, error) {
	dups := sp.duplicates()
	all := &plan.Plan{}
	err := sp.chunks(chunkSize, func(users []directory.User) error {
		d, err := c.draft(ctx, users, dups)
		if err != nil {
			return err
		}
		all.Merge(d)
		c.progress(PhasePlan, func(pr *Progress) { pr.Considered += len(users) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	all.Settle(c.p.Rules.DeletionThreshold(), c.planStaged())
	c.progress(PhasePlan, func(pr *Progress) { pr.Planned = len(all.Changes) })
	return all, nil
}

// plan plans users at once (provisioning one user).
func (c *cycle) plan(ctx context.Context, users []directory.User) (*plan.Plan, error) {
	pl, err := c.draft(ctx, users, nil)
	if err != nil {
		return nil, err
	}
	pl.Settle(c.p.Rules.DeletionThreshold(), c.planStaged())
	return pl, nil
}

// draft reads what the chunk's users need (their managers, what the map
// knows of them and of their managers) and drafts their changes (see
// plan.Draft). The entries of the users with a change join c.known for the
// apply step.
func (c *cycle) draft(ctx context.Context, users []directory.User, dups map[string]string) (*plan.Plan, error) {
	p := c.p
	if p.Rules.MapsManager() {
		if err := c.readManagers(ctx, users); err != nil {
			return nil, err
		}
	}
	ids := make([]string, 0, len(users)*2)
	for _, u := range users {
		ids = append(ids, u.ID)
		if m, ok := u.Attrs[directory.PropManager].(string); ok && m != "" {
			ids = append(ids, m)
		}
	}
	known, err := p.Store.GetMany(ctx, p.PairName, ids)
	if err != nil {
		return nil, fmt.Errorf("read map: %w", err)
	}
	in := plan.Input{
		Policy: scopedRules{Rules: p.Rules, members: c.members},
		Users:  users,
		Known:  make(map[string]plan.Known, len(known)),
		// The manager's entry as the store has it now: in a cycle that
		// streams, one created by an earlier chunk is set at once, not
		// after the cycle.
		ManagerGuest: func(src string) (string, bool) {
			e, ok := known[src]
			return e.GuestID, ok && e.GuestID != "" && (e.State == guestmap.StateActive || e.State == guestmap.StateDisabled)
		},
		Staged:     c.planStaged(),
		Duplicates: dups,
	}
	for id, e := range known {
		in.Known[id] = toKnown(e)
	}
	d := plan.Draft(in)
	c.remember(known, d)
	return d, nil
}

// remember keeps, for the apply step, the map entries of the users with a
// change in d; those of users left as they are would pile up over a large
// read (a streamed cycle forgets each user once it is done).
func (c *cycle) remember(known map[string]guestmap.Entry, d *plan.Plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == nil {
		c.known = make(map[string]guestmap.Entry, len(d.Changes))
	}
	for _, ch := range d.Changes {
		if e, ok := known[ch.SourceID]; ok {
			c.known[ch.SourceID] = e
		}
	}
}

// planStaged is the staged actions as the plan takes them (nil: none).
func (c *cycle) planStaged() map[string]plan.Staged { return c.stagedPlan }

// slim drops the source attributes of changes that wait (destructive ones
// for the end of a streamed cycle), except those that name the user in the
// log: a mass of out-of-scope users must not hold every user object.
func slim(p *plan.Plan) *plan.Plan {
	for i := range p.Changes {
		u := &p.Changes[i].User
		kept := map[string]any{}
		for _, k := range []string{directory.PropUPN, directory.PropMail, directory.PropDisplayName} {
			if v, ok := u.Attrs[k]; ok {
				kept[k] = v
			}
		}
		u.Attrs = kept
	}
	return p
}

// planStates translates the map's states into the plan's.
var planStates = map[guestmap.State]plan.State{
	guestmap.StateActive: plan.Active, guestmap.StateDisabled: plan.StateOff,
	guestmap.StateSoftDeleted: plan.StateGone, guestmap.StateStaged: plan.StateStaged,
	guestmap.StateParked: plan.Parked,
}

func toKnown(e guestmap.Entry) plan.Known {
	return plan.Known{GuestID: e.GuestID, State: planStates[e.State], Hash: e.AttrHash, ManagerSourceID: e.ManagerSourceID, ManagerPending: e.ManagerPending}
}

// finish commits the delta link and the cycle's status, and decides
// quarantine.
func (c *cycle) finish(ctx context.Context, link string) error {
	p := c.p
	if c.incomplete != "" || ctx.Err() != nil {
		// Recorded whatever stopped the cycle (the deadline, a shutdown):
		// a short context of its own; the lease still fences it.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	st := c.status
	st.Pair, st.CycleStart, st.CycleEnd = p.PairName, c.rep.Start, p.now()
	st.Counts = map[string]int{}
	for k, v := range c.rep.Counts {
		st.Counts[k] = v
	}
	parked, err := c.countParked(ctx)
	if err != nil {
		return err
	}
	st.Counts["parked"] = parked
	total := 0
	for k, v := range c.rep.Counts {
		if k != "unchanged" && k != "skip" {
			total += v
		}
	}
	st.LastError, st.Running = "", ""
	b := guestmap.Batch{Status: &st}
	if c.incomplete == "" {
		st.PolicyHash = p.Rules.Fingerprint()
		st.LastSuccess = st.CycleEnd
		if link != "" {
			b.DeltaLink = &link
		}
	} else if c.applied > 0 || c.rep.Counts["manager"] > 0 {
		// Incomplete: neither the delta link nor the policy's fingerprint
		// is committed (not every change was applied), so the next cycle
		// reads from the same point and plans the pending users again.
		// One that got work done is a success for "no recent success".
		st.LastSuccess = st.CycleEnd
	}
	st.AddCycle(c.summary(st.CycleEnd, nil))
	if c.rep.Failures > 0 {
		st.LastError = fmt.Sprintf("%d users parked this cycle", c.rep.Failures)
		st.LastErrorAt = p.now()
		st.FailureRatio = float64(c.rep.Failures) / float64(max(total, 1))
		if c.rep.Failures >= p.QuarantineMinFailures && st.FailureRatio > p.QuarantineRatio && !st.Quarantine.On {
			q := guestmap.Quarantine{On: true, Since: p.now(), Reason: fmt.Sprintf("%d of %d actions failed (%.0f%% > %.0f%%)", c.rep.Failures, total, 100*st.FailureRatio, 100*p.QuarantineRatio)}
			b.Quarantine = &q
			c.rep.Quarantined = true
		}
	} else {
		st.FailureRatio = 0
		st.ConsecutiveFailures = 0
	}
	if c.rep.GroupErr != nil {
		st.LastError, st.LastErrorAt = c.rep.GroupErr.Error(), p.now()
	}
	if err := p.Store.Apply(ctx, c.lease, b); err != nil {
		return fmt.Errorf("commit delta link and status: %w", err)
	}
	return nil
}

// countParked counts parked entries cheaply when nothing could have
// changed the count, else by a scan.
func (c *cycle) countParked(ctx context.Context) (int, error) {
	if c.status.Counts["parked"] == 0 && c.rep.Failures == 0 {
		return 0, nil
	}
	n := 0
	err := c.p.Store.Scan(ctx, c.p.PairName, func(page []guestmap.Entry) error {
		for _, e := range page {
			if e.State == guestmap.StateParked {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count parked users: %w", err)
	}
	return n, nil
}

// summary is the cycle as its pair's history keeps it.
func (c *cycle) summary(end time.Time, err error) guestmap.CycleSummary {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := guestmap.CycleSummary{Start: c.rep.Start, End: end, Full: c.rep.Full, Parked: c.rep.Failures,
		Incomplete: string(c.incomplete), Pending: c.pending}
	if len(c.rep.Counts) > 0 {
		cs.Counts = make(map[string]int, len(c.rep.Counts))
		for k, v := range c.rep.Counts {
			cs.Counts[k] = v
		}
	}
	if err != nil {
		cs.Error = err.Error()
	}
	return cs
}

// recordFailure notes a cycle that stopped on an error in the status.
func (c *cycle) recordFailure(err error) {
	if c.lease == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st := c.status
	if st.Pair == "" {
		// The cycle stopped before it read the status: read it now, so
		// the history and last success are kept, not overwritten.
		if cur, rerr := c.p.Store.Status(ctx, c.p.PairName); rerr == nil {
			st = cur
		}
	}
	st.Pair, st.Running = c.p.PairName, ""
	st.LastError, st.LastErrorAt = err.Error(), c.p.now()
	st.ConsecutiveFailures++
	st.AddCycle(c.summary(st.LastErrorAt, err))
	_ = c.p.Store.Apply(ctx, c.lease, guestmap.Batch{Status: &st})
}

// decidedNow reports whether a staged action has an admin's decision the
// next cycle must carry out. A rejected adoption has none: the user stays
// unsynced (and listed) until an admin approves it after all, so it is not
// read again every cycle.
func decidedNow(s guestmap.Staged) bool {
	return s.Decision == guestmap.Approved || (s.Decision == guestmap.Rejected && s.Action != string(plan.Adopt))
}
