package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sourcegraph/conc/panics"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
	"github.com/ctsync/ctsync/policy"
	"github.com/ctsync/ctsync/sync/plan"
)

// The fast lane (`ctsync run` only, every [worker] fast_interval) blocks
// the guests of source users who were disabled, deleted or left the scope
// within seconds, instead of at the pair's next cycle. Each round is one
// delta round on a second delta link of the pair (guestmap's FastLink,
// apart from the cycle's), so a round with nothing changed is one Graph
// request and no store write. For a reported user whose map entry is an
// active guest, and whose lifecycle action for what happened blocks the
// guest (disable, soft or hard delete), it reads the guest by ID, checks
// that it carries this pair's stamp for this user (plan.CheckOwned, as the
// cycle's destroy does), sets accountEnabled=false, revokes its sign-in
// sessions (Pair.RevokeSessions), and records the entry as disabled with a
// provisioning-log record in one fenced batch. It does nothing else: the
// next cycle reads the same changes through its own link and does the rest
// (a soft or hard delete per lifecycle, a re-enable when the source user
// is enabled again: plan's worked case "in scope, enabled / disabled").
//
// Group-scoped pairs skip the scope check here: group membership is not in
// the users' delta, so a user leaving a scoped group waits for the cycle.

// FastRoundTimeout bounds one fast round. A cycle of the same pair in this
// process waits for a round that holds the lease itself, so it is short.
const FastRoundTimeout = time.Minute

// fastLinkRefresh is how often a round that saw nothing still commits the
// new delta link Graph returned, so the stored link never ages toward the
// token's expiry, while an idle round mostly writes nothing.
const fastLinkRefresh = 10 * time.Minute

// FastReport is what one fast round did.
type FastReport struct {
	Pair       string
	Start, End time.Time
	// Reported is how many users the delta round reported.
	Reported int
	// Disabled are the guests disabled this round.
	Disabled []FastDisable
	// Left counts the users the round left to the cycle: over the
	// deletion threshold, or their guest could not be disabled.
	Left int
	// Init: the pair had no fast link yet; the round only took one.
	Init bool
	// Shared: the round ran under the lease of this process's running
	// cycle of the pair.
	Shared bool
	// Skipped says why the round did not run ("" it ran); NotMine is set
	// when the pair is another replica's share.
	Skipped string
	NotMine bool
	Err     error
}

// FastDisable is one guest disabled by the fast lane.
type FastDisable struct {
	SourceID, GuestID string
	Reason            string
	// Revoked: its sign-in sessions were revoked too.
	Revoked bool
	// Latency is the time from the round's start to the guest disabled
	// and recorded.
	Latency time.Duration
}

// fastLane is a pair's fast-lane state in this process: how the fast lane
// shares the pair's lease with a cycle of the pair running here.
//
// A pair's lease is one per pair in the store, and a cycle that finds it
// held skips. So within one process the two must not compete for it:
//   - gate serialises taking the lease. A fast round that takes the lease
//     itself (no cycle of the pair runs here) holds gate for its whole
//     round; a cycle takes gate around Acquire and until it has published
//     its lease (acquireCycleLease, shareCycleLease). A cycle therefore
//     waits for a fast round in flight (at most FastRoundTimeout) instead
//     of finding the lease held and skipping its interval.
//   - While a cycle runs (a long first sync may take many rounds), it
//     publishes its lease and the lease's keep-alive context under mu.
//     A fast round then runs under that lease: its writes are fenced by
//     the cycle's token, and its context ends with the cycle's lease. It
//     holds use (read side) while it does; the cycle, before releasing
//     its lease, unpublishes it and takes use's write side, so it never
//     releases a lease a fast round is still writing under.
type fastLane struct {
	gate sync.Mutex

	mu       sync.Mutex
	lease    *guestmap.Lease
	leaseCtx context.Context
	use      sync.RWMutex

	// committed is when the round last committed its link (rounds of a
	// pair run one at a time: the runner's loop).
	committed time.Time
}

// acquireCycleLease takes the pair's lease for a cycle, after any fast
// round of the pair holding it in this process (see fastLane). On success
// the lane's gate stays locked until shareCycleLease.
func (p *Pair) acquireCycleLease(ctx context.Context) (*guestmap.Lease, error) {
	p.lane.gate.Lock()
	l, err := p.Store.Acquire(ctx, p.PairName, p.LeaseTTL)
	if err != nil {
		p.lane.gate.Unlock()
	}
	return l, err
}

// shareCycleLease publishes a cycle's lease to the fast lane and unlocks
// the gate acquireCycleLease left locked. Call the returned function
// before releasing the lease: it waits for a fast round using it.
func (p *Pair) shareCycleLease(ctx context.Context, l *guestmap.Lease) (unshare func()) {
	p.lane.mu.Lock()
	p.lane.lease, p.lane.leaseCtx = l, ctx
	p.lane.mu.Unlock()
	p.lane.gate.Unlock()
	return func() {
		p.lane.mu.Lock()
		p.lane.lease, p.lane.leaseCtx = nil, nil
		p.lane.mu.Unlock()
		p.lane.use.Lock()
		//lint:ignore SA2001 waiting for the readers is the point
		p.lane.use.Unlock()
	}
}

// sharedLease returns the running cycle's lease, with use read-locked
// (call done when finished), or nil.
func (p *Pair) sharedLease() (l *guestmap.Lease, lctx context.Context, done func()) {
	p.lane.mu.Lock()
	defer p.lane.mu.Unlock()
	if p.lane.lease == nil {
		return nil, nil, nil
	}
	p.lane.use.RLock()
	return p.lane.lease, p.lane.leaseCtx, p.lane.use.RUnlock
}

// FastRound runs one round of the pair's fast lane (see the top of this
// file): on this replica's share only, under the pair's lease (its own, or
// the running cycle's).
func (p *Pair) FastRound(ctx context.Context) (rep FastReport) {
	rep = FastReport{Pair: p.PairName, Start: p.now()}
	defer func() { rep.End = p.now() }()
	if p.Sharing != nil {
		if run, why := p.Sharing.Turn(ctx, p.PairName); !run {
			rep.Skipped, rep.NotMine = why, true
			return rep
		}
	}
	ctx, cancel := context.WithTimeout(ctx, FastRoundTimeout)
	defer cancel()
	lease, lctx, done := p.sharedLease()
	if lease == nil {
		p.lane.gate.Lock()
		defer p.lane.gate.Unlock()
		// A cycle may have published its lease while this round waited.
		lease, lctx, done = p.sharedLease()
	}
	if lease != nil {
		defer done()
		rep.Shared = true
		stop := context.AfterFunc(lctx, cancel)
		defer stop()
		if lctx.Err() != nil {
			cancel()
		}
	} else {
		own, err := p.Store.Acquire(ctx, p.PairName, p.LeaseTTL)
		if errors.Is(err, guestmap.ErrHeld) {
			rep.Skipped = "another ctsync holds the pair's lease"
			return rep
		}
		if err != nil {
			rep.Err = fmt.Errorf("pair %s: fast lane: take lease: %w", p.PairName, err)
			return rep
		}
		var stopKeeping context.CancelFunc
		ctx, stopKeeping = own.KeepAlive(ctx)
		defer func() {
			stopKeeping()
			rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer rcancel()
			_ = own.Release(rctx)
		}()
		lease = own
	}
	if err := ctx.Err(); err != nil {
		// The cycle's lease (or the round's time) ended already;
		// AfterFunc cancels ctx only in its own goroutine.
		rep.Err = fmt.Errorf("pair %s: fast lane: %w", p.PairName, err)
		return rep
	}
	if err := p.fastRound(ctx, lease, &rep); err != nil {
		rep.Err = fmt.Errorf("pair %s: fast lane: %w", p.PairName, err)
	}
	return rep
}

// fastProps are what the fast lane's delta selects: the pair's source
// properties (those of the scope among them; tenants adds accountEnabled
// and the other scope properties it always reads), without the manager: a
// manager change concerns no access.
func (p *Pair) fastProps() []string {
	return slices.DeleteFunc(slices.Clone(p.Rules.SourceProperties()), func(s string) bool { return s == directory.PropManager })
}

// fastRound is a round under a held lease.
func (p *Pair) fastRound(ctx context.Context, lease *guestmap.Lease, rep *FastReport) error {
	props := p.fastProps()
	link, err := p.Store.FastLink(ctx, p.PairName)
	if err != nil {
		return fmt.Errorf("read fast lane link: %w", err)
	}
	if link == "" {
		// The first round only takes a link from now: the cycle handles
		// the state before it.
		rep.Init = true
		return p.fastStart(ctx, lease, props)
	}
	reported := map[string]directory.User{}
	next, err := p.Source.Delta(ctx, link, props, func(page []directory.User) error {
		for _, u := range page {
			reported[u.ID] = u // the last report of a user wins
		}
		return nil
	})
	if errors.Is(err, directory.ErrSyncStateExpired) {
		// Unused for days (the daemon was stopped): start again from now;
		// the cycle reads what happened meanwhile through its own link.
		p.log().Warn("fast lane: delta token expired; starting again from now", "pair", p.PairName)
		rep.Init = true
		return p.fastStart(ctx, lease, props)
	}
	if err != nil {
		return fmt.Errorf("read source delta: %w", err)
	}
	rep.Reported = len(reported)
	all := true
	if len(reported) > 0 {
		if all, err = p.fastApply(ctx, lease, reported, rep); err != nil {
			return err
		}
	}
	if !all {
		// A guest that could not be disabled: the next round reads the
		// same changes again (the link is not committed) and retries.
		return nil
	}
	if len(reported) == 0 && p.now().Sub(p.lane.committed) < fastLinkRefresh {
		return nil // nothing changed: one request, no store write
	}
	return p.commitFastLink(ctx, lease, next)
}

// fastStart takes a delta link from now ($deltatoken=latest) and commits it.
func (p *Pair) fastStart(ctx context.Context, lease *guestmap.Lease, props []string) error {
	link, err := p.Source.LatestDelta(ctx, props)
	if err != nil {
		return fmt.Errorf("take a delta link from now: %w", err)
	}
	return p.commitFastLink(ctx, lease, link)
}

func (p *Pair) commitFastLink(ctx context.Context, lease *guestmap.Lease, link string) error {
	if err := p.Store.Apply(ctx, lease, guestmap.Batch{FastLink: &link}); err != nil {
		return fmt.Errorf("commit fast lane link: %w", err)
	}
	p.lane.committed = p.now()
	return nil
}

// fastApply decides about the reported users and disables the guests it
// must. It returns all=false when a guest it should disable was not (the
// round's link must not be committed).
func (p *Pair) fastApply(ctx context.Context, lease *guestmap.Lease, reported map[string]directory.User, rep *FastReport) (all bool, err error) {
	ids := make([]string, 0, len(reported))
	for id := range reported {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	entries, err := p.Store.GetMany(ctx, p.PairName, ids)
	if err != nil {
		return false, fmt.Errorf("read map entries: %w", err)
	}
	scoped := len(p.Rules.Groups()) == 0
	props := p.fastProps()
	var todo, revokes []fastDecision
	for _, id := range ids {
		e, ok := entries[id]
		if !ok {
			continue
		}
		u := reported[id]
		d := decideFast(u, e, p.Rules, scoped, carriesAll(u, props))
		if d.reread {
			// A changed user reported with only what changed: scope needs
			// every property. Read it by ID.
			full, err := p.Source.User(ctx, id, props)
			switch {
			case errors.Is(err, directory.ErrNotFound):
				full = &directory.User{ID: id, Removed: directory.HardDeleted}
			case err != nil:
				p.log().Warn("fast lane: read source user; left to the cycle", "pair", p.PairName, "src", id, "error", err)
				rep.Left++
				continue
			}
			d = decideFast(*full, e, p.Rules, scoped, true)
		}
		switch {
		case d.act:
			todo = append(todo, d)
		case d.revoke && p.RevokeSessions:
			revokes = append(revokes, d)
		}
	}
	if n := p.Rules.DeletionThreshold(); n > 0 && len(todo) > n {
		// A mass of disables looks like an accident (a scope edit, a
		// script gone wrong): the cycle stages them for an admin above
		// the same threshold.
		p.log().Warn("fast lane: more disables than the pair's deletion threshold; left to the cycle, which stages them for approval",
			"pair", p.PairName, "disables", len(todo), "deletion_threshold", n)
		rep.Left += len(todo)
		return true, nil
	}
	all = true
	for _, d := range revokes {
		if err := p.fastRevoke(ctx, lease, d); err != nil {
			return false, err
		}
	}
	for _, d := range todo {
		done, err := p.fastDisable(ctx, lease, d, rep)
		if err != nil {
			return false, err
		}
		if !done {
			all = false
			rep.Left++
		}
	}
	return all, nil
}

// fastDecision is what the fast lane does about one reported user.
type fastDecision struct {
	sourceID, guestID string
	event             policy.Event
	reason            string
	// act: disable the guest. reread: read the user by ID and decide
	// again (scope needs properties the delta item lacks). revoke: the
	// guest is disabled already (a cycle got there first, and a cycle
	// does not revoke sessions): only revoke its sessions.
	act, reread, revoke bool
}

// decideFast decides about one reported user u whose map entry is e:
// disable its guest when e is an active guest and what happened to u
// (deleted, out of scope, disabled, checked in plan's order) has a
// lifecycle action that blocks the guest. scoped: evaluate the scope (not
// for group-scoped pairs); complete: u carries every selected property,
// so the scope can be evaluated (else reread).
func decideFast(u directory.User, e guestmap.Entry, rules Rules, scoped, complete bool) fastDecision {
	d := fastDecision{sourceID: u.ID, guestID: e.GuestID}
	if e.GuestID == "" || (e.State != guestmap.StateActive && e.State != guestmap.StateDisabled) {
		return d // no guest, or deleted, staged or parked
	}
	switch {
	case u.Removed == directory.SoftDeleted:
		d.event, d.reason = policy.SoftDeleted, "the source user was deleted (restorable)"
	case u.Removed == directory.HardDeleted:
		d.event, d.reason = policy.HardDeleted, "the source user was permanently deleted"
	case scoped && !complete:
		// Even a disabled user: out of scope comes first (as in plan),
		// and its lifecycle action may differ.
		d.reread = true
		return d
	default:
		if scoped {
			if in, why := rules.InScope(u, nil); !in {
				d.event, d.reason = policy.OutOfScope, "out of scope: "+why
				break
			}
		}
		if on, ok := u.Bool(directory.PropAccountEnabled); ok && !on {
			d.event, d.reason = policy.Disabled, "the source account is disabled"
		}
	}
	if d.event == "" {
		return d
	}
	switch rules.Action(d.event) {
	case plan.Disable, plan.SoftDelete, plan.HardDelete:
		d.act = e.State == guestmap.StateActive
		d.revoke = e.State == guestmap.StateDisabled
	}
	return d
}

// fastRevoke revokes the sessions of a guest a cycle disabled before the
// fast lane saw its source user change, after the same ownership check,
// and logs it (action "revoke-sessions"). Revoking twice is harmless, so
// a guest whose sessions were revoked already costs a request, no more. A
// failure is logged and not retried (the guest cannot sign in again);
// an error is the store failing.
func (p *Pair) fastRevoke(ctx context.Context, lease *guestmap.Lease, d fastDecision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	props := append(append([]string{}, plan.OwnershipProps...), p.StampAttribute)
	g, err := p.Target.Get(ctx, d.guestID, props)
	if err == nil {
		err = plan.CheckOwned(*g, p.StampAttribute, p.Stamp(d.sourceID), plan.Disable)
	}
	if err == nil {
		err = p.Target.RevokeSessions(ctx, d.guestID)
	}
	if err != nil {
		p.log().Warn("fast lane: sessions of a disabled guest not revoked", "pair", p.PairName, "src", d.sourceID, "guest", d.guestID, "error", err)
		return nil
	}
	rec := guestmap.Record{Time: p.now(), Pair: p.PairName, Cycle: "fast-lane", SourceID: d.sourceID, GuestID: d.guestID,
		Action: "revoke-sessions", Result: "ok", Error: "fast lane: " + d.reason + "; the guest was disabled already: sessions revoked"}
	if err := p.Store.Apply(ctx, lease, guestmap.Batch{Log: []guestmap.Record{rec}}); err != nil {
		return fmt.Errorf("record revocation of %s: %w", d.sourceID, err)
	}
	p.log().Info("fast lane: sessions revoked", "pair", p.PairName, "src", d.sourceID, "guest", d.guestID, "reason", d.reason)
	return nil
}

// carriesAll reports whether u carries every property of props (a delta
// item of a changed user may carry only what changed).
func carriesAll(u directory.User, props []string) bool {
	for _, k := range props {
		if _, ok := u.Attrs[k]; !ok && k != "id" {
			return false
		}
	}
	return true
}

// fastDisable disables one guest exactly as the cycle's destroy does (read
// by ID, ownership checked against the pair's stamp first), revokes its
// sessions, and records it. done=false leaves the user to a later round
// and the cycle; an error is the store failing (stop the round).
func (p *Pair) fastDisable(ctx context.Context, lease *guestmap.Lease, d fastDecision, rep *FastReport) (done bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err // the lease or the round's time ended: stop
	}
	start := p.now()
	props := append(append([]string{}, plan.OwnershipProps...), p.StampAttribute)
	warn := func(msg string, err error) {
		p.log().Warn("fast lane: "+msg+"; left to the cycle", "pair", p.PairName, "src", d.sourceID, "guest", d.guestID, "error", err)
	}
	var gerr error
	work := func() {
		g, err := p.Target.Get(ctx, d.guestID, props)
		if err != nil {
			gerr = fmt.Errorf("read guest %s before disable: %w", d.guestID, err)
			return
		}
		if err := plan.CheckOwned(*g, p.StampAttribute, p.Stamp(d.sourceID), plan.Disable); err != nil {
			gerr = err
			return
		}
		if err := p.Target.Update(ctx, d.guestID, map[string]any{directory.PropAccountEnabled: false}); err != nil {
			gerr = fmt.Errorf("disable guest %s: %w", d.guestID, err)
		}
	}
	if p.Limiter != nil {
		// The target's writes go through the slots every pair writing
		// there shares (and the tenant's pacer, in Target).
		if err := p.Limiter.Do(ctx, work); err != nil {
			warn("no write slot", err)
			return false, nil
		}
	} else {
		work()
	}
	if gerr != nil {
		warn("guest not disabled", gerr)
		return false, nil
	}
	out := FastDisable{SourceID: d.sourceID, GuestID: d.guestID, Reason: d.reason}
	rec := guestmap.Record{Time: p.now(), Pair: p.PairName, Cycle: "fast-lane", SourceID: d.sourceID, GuestID: d.guestID,
		Action: string(plan.Disable), Result: "ok",
		Changes: []guestmap.Change{{Prop: directory.PropAccountEnabled, Old: true, New: false}}}
	reason := "fast lane: " + d.reason
	if p.RevokeSessions {
		if err := p.Target.RevokeSessions(ctx, d.guestID); err != nil {
			// The guest cannot sign in again; tokens it holds live on
			// until they expire (at most about an hour). Said in the
			// record: no later round retries it.
			warn("sessions not revoked (the guest is disabled)", err)
			reason += "; sessions not revoked: " + err.Error()
		} else {
			out.Revoked = true
			reason += "; sessions revoked"
		}
	}
	// The record's Error carries the reason, as for staged and skipped
	// users: the log has no field of its own for it.
	rec.Error = reason
	e, ok, err := p.Store.Get(ctx, p.PairName, d.sourceID)
	if err != nil {
		return false, fmt.Errorf("re-read entry of %s: %w", d.sourceID, err)
	}
	if !ok || e.GuestID != d.guestID {
		// The cycle rewrote the entry meanwhile: record only the log.
		e = guestmap.Entry{}
	}
	b := guestmap.Batch{Log: []guestmap.Record{rec}}
	if e.SourceID != "" {
		e.State = guestmap.StateDisabled
		e.Updated = time.Time{}
		b.Put = []guestmap.Entry{e}
	}
	rec.Duration = p.now().Sub(start)
	b.Log[0].Duration = rec.Duration
	if err := p.Store.Apply(ctx, lease, b); err != nil {
		return false, fmt.Errorf("record disable of %s: %w", d.sourceID, err)
	}
	out.Latency = p.now().Sub(rep.Start)
	rep.Disabled = append(rep.Disabled, out)
	p.log().Info("fast lane: guest disabled", "pair", p.PairName, "src", d.sourceID, "guest", d.guestID,
		"reason", d.reason, "sessions_revoked", out.Revoked, "latency", out.Latency.Round(time.Millisecond))
	return true, nil
}

// FastLaner is a pair with a fast lane, as the runner sees it.
type FastLaner interface {
	Cycler
	// FastRound runs one round of the fast lane and reports it.
	FastRound(ctx context.Context) FastReport
}

var _ FastLaner = (*Pair)(nil)

// fastLoop runs p's fast lane until ctx is done, a round every
// FastInterval, each with its own panic recovery: a fast lane that fails
// never stops the pair's cycles.
func (r *Runner) fastLoop(ctx context.Context, p FastLaner) {
	for {
		var rep FastReport
		var c panics.Catcher
		c.Try(func() { rep = p.FastRound(ctx) })
		if rec := c.Recovered(); rec != nil {
			rep = FastReport{Pair: p.Name(), Err: fmt.Errorf("pair %s: fast round panicked: %v", p.Name(), rec.Value)}
			r.Log.Error("fast round panicked", "pair", p.Name(), "panic", rec.Value, "stack", string(rec.Stack))
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case rep.Err != nil:
			r.Log.Warn("fast round failed", "pair", rep.Pair, "error", rep.Err)
		case rep.Init:
			r.Log.Info("fast lane started: delta link taken", "pair", rep.Pair)
		case rep.Skipped != "" && !rep.NotMine:
			r.Log.Debug("fast round skipped", "pair", rep.Pair, "reason", rep.Skipped)
		}
		if r.OnFast != nil {
			r.OnFast(rep)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.Clock.After(r.FastInterval):
		}
	}
}
