package worker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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

// apply carries out the plan under the target tenant's limiter. Each user's
// result is written to the map as soon as it is known (fenced by the
// lease), so a crash loses at most the users in flight, whom the stamp
// recovers.
func (c *cycle) apply(ctx context.Context, pl *plan.Plan) {
	c.rep.count("unchanged", pl.Unchanged)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lim := c.p.Limiter
	if lim == nil {
		lim = NewLimiter(4)
	}
	wp := pool.New().WithMaxGoroutines(lim.Size())
	var done atomic.Int64
	total := len(pl.Changes)
	for _, ch := range pl.Changes {
		wp.Go(func() {
			_ = lim.Do(ctx, func() {
				if err := c.applyOne(ctx, ch); err != nil && errors.Is(err, errFatal) {
					cancel(err)
				}
			})
			if c.p.Progress != nil {
				c.p.Progress(c.p.PairName, int(done.Add(1)), total)
			}
		})
	}
	wp.Wait()
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, errFatal) {
		c.fatal = cause
	}
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
	case plan.Disable:
		err = c.p.Target.Update(ctx, ch.GuestID, map[string]any{directory.PropAccountEnabled: false})
		out.state, out.set = guestmap.StateDisabled, map[string]any{directory.PropAccountEnabled: false}
	case plan.SoftDelete:
		err = c.p.Target.SoftDelete(ctx, ch.GuestID)
		if err != nil && c.p.Errors.IsNotFound(err) {
			err = nil // already gone
		}
		out.state = guestmap.StateSoftDeleted
	case plan.HardDelete:
		err = c.p.Target.HardDelete(ctx, ch.GuestID)
		if err != nil && c.p.Errors.IsNotFound(err) {
			err = nil
		}
		out.drop = true
	case plan.Stage:
		out.state = guestmap.StateStaged
	case plan.Park:
		err = errors.New(ch.Reason)
	}
	out.duration = time.Since(start)
	if err != nil {
		if c.p.Errors.IsFatal(err) {
			err = fmt.Errorf("%w: %w", errFatal, err)
		}
		out.err = err
	}
	return errors.Join(err, c.record(ctx, out))
}

// outcome is what applying one change did, to be recorded.
type outcome struct {
	change   plan.Change
	action   plan.Action // as done: create may become adopt or skip
	guestID  string
	state    guestmap.State
	set      map[string]any
	old      map[string]any
	drop     bool // remove the entry (hard delete)
	skipped  string
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
		e.State = guestmap.StateParked
		e.Attempts++
		e.NextRetry = p.now().Add(p.Retry.Delay(e.Attempts))
		e.LastError = o.err.Error()
		b.Put = []guestmap.Entry{e}
		rec.Result, rec.Error = "parked", o.err.Error()
		c.count("failed", 1)
		c.addFailure()
	case o.skipped != "" || o.action == plan.Skip:
		rec.Result, rec.Error = "skipped", firstNonEmpty(o.skipped, ch.Reason)
		c.count("skip", 1)
		if ch.Rejected && hadEntry {
			e := prev
			e.State = guestmap.StateActive
			b.Put, b.Unstage = []guestmap.Entry{e}, []string{ch.SourceID}
			rec.Action, rec.Result = string(ch.Staged), "rejected"
		}
	case o.action == plan.Stage:
		b.Stage = []guestmap.Staged{{SourceID: ch.SourceID, GuestID: ch.GuestID, Action: string(ch.Staged), Reason: ch.Reason, Since: p.now()}}
		e := prev
		e.State = guestmap.StateStaged
		b.Put = []guestmap.Entry{e}
		rec.Result, rec.Error = "staged", ch.Reason
		c.count("stage", 1)
	case o.drop:
		b.Delete = []string{ch.SourceID}
		b.Unstage = []string{ch.SourceID}
		c.count(string(o.action), 1)
		c.noteLeft(ch.SourceID)
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
			e.ManagerSourceID = ch.ManagerSourceID
			if upn := ch.User.Str(directory.PropMail); upn != "" {
				e.GuestUPN = upn
			}
		}
		b.Put = []guestmap.Entry{e}
		if _, staged := c.staged[ch.SourceID]; staged {
			b.Unstage = []string{ch.SourceID}
		}
		c.count(string(o.action), 1)
		switch {
		case o.action == plan.Create || o.action == plan.Adopt || o.action == plan.Restore:
			c.noteArrived(ch.SourceID)
		case ch.Event != "" && ch.Event != policy.Disabled:
			c.noteLeft(ch.SourceID) // out of scope or deleted
		}
	}
	b.Log = []guestmap.Record{rec}
	if err := p.Store.Apply(ctx, c.lease, b); err != nil {
		return fmt.Errorf("%w: record %s of %s: %w", errFatal, o.action, ch.SourceID, err)
	}
	return nil
}

// create runs the crash-safe, duplicate-free create path: lock the user,
// re-check the map, look for our stamp (a crash after an earlier invite),
// look for an existing guest by mail (adopt or skip per policy), invite,
// then stamp and patch. See ARCHITECTURE.md.
func (c *cycle) create(ctx context.Context, o *outcome) error {
	p, ch := c.p, o.change
	lock, e, err := p.Store.LockUser(ctx, p.PairName, ch.SourceID, p.LeaseTTL)
	if errors.Is(err, guestmap.ErrHeld) {
		// Parked, not skipped: the delta link moves on after this cycle,
		// so only a retry brings the user back.
		return errors.New("another ctsync is creating this user's guest right now; retrying later")
	}
	if err != nil {
		return fmt.Errorf("%w: lock user: %w", errFatal, err)
	}
	o.lock = lock
	if e != nil && e.GuestID != "" && e.State != guestmap.StateParked {
		o.skipped = "mapped meanwhile by another ctsync"
		return nil
	}
	stamp := p.Stamp(ch.SourceID)
	invitedBefore := invitationMarked(e)
	guestID, how, err := c.match(ctx, ch, stamp, invitedBefore)
	if err != nil || how == "skip" {
		if how == "skip" {
			o.skipped = err.Error()
			return nil
		}
		return err
	}
	if guestID == "" {
		// Leave a mark before inviting: after a crash between the invite
		// and the stamp, the next attempt adopts the unstamped guest it
		// finds by mail instead of treating it as someone else's.
		mark := guestmap.Entry{SourceID: ch.SourceID, Stamp: stamp, State: guestmap.StateParked, Created: p.now(),
			NextRetry: p.now().Add(p.Retry.Delay(1)), LastError: "invitation in progress", Attempts: 1}
		if err := p.Store.Apply(ctx, c.lease, guestmap.Batch{Put: []guestmap.Entry{mark}}); err != nil {
			return fmt.Errorf("%w: mark invitation: %w", errFatal, err)
		}
		c.setEntry(mark)
		guestID, err = p.Target.Invite(ctx, directory.Invitation{
			Email:       ch.User.Str(directory.PropMail),
			DisplayName: ch.User.Str(directory.PropDisplayName),
			UserType:    p.Rules.UserType(),
			RedirectURL: p.RedirectURL,
			SendMessage: p.SendInvitation,
		})
		if err != nil {
			return fmt.Errorf("invite: %w", err)
		}
		how = string(plan.Create)
	}
	o.guestID, o.action = guestID, plan.Action(how)
	set := make(map[string]any, len(ch.Set)+1)
	for k, v := range ch.Set {
		set[k] = v
	}
	set[p.StampAttribute] = stamp
	if err := p.Target.Update(ctx, guestID, set); err != nil {
		return fmt.Errorf("stamp and set attributes of guest %s: %w", guestID, err)
	}
	o.set, o.state = set, guestmap.StateActive
	return nil
}

// invitationMarked reports whether an entry is the mark left before an
// invitation (a stamp but no guest yet): the invitation may have been
// sent, so an unstamped guest with the user's mail is ours to adopt,
// whatever the existing-guest policy says. Parking keeps the mark, so a
// failed or lost invitation is still recognised on the retry; a failure
// before the mark leaves no stamp, and the policy applies.
func invitationMarked(e *guestmap.Entry) bool {
	return e != nil && e.GuestID == "" && e.Stamp != ""
}

// match looks for a guest that already stands for the source user. It
// returns the guest's ID and "adopt", "" to invite, or "skip" with the
// reason as the error.
func (c *cycle) match(ctx context.Context, ch plan.Change, stamp string, invitedBefore bool) (string, string, error) {
	p := c.p
	stamped, err := p.Target.FindByStamp(ctx, stamp)
	if err != nil {
		return "", "", fmt.Errorf("find guest by stamp: %w", err)
	}
	switch len(stamped) {
	case 0:
	case 1:
		return stamped[0].ID, string(plan.Adopt), nil
	default:
		return "", "", fmt.Errorf("%d guests carry stamp %s: resolve by hand (delete the extra ones)", len(stamped), stamp)
	}
	mail := ch.User.Str(directory.PropMail)
	if mail == "" {
		return "", "", errors.New("the source user has no mail: nothing to invite")
	}
	found, err := p.Target.FindByMail(ctx, mail)
	if err != nil {
		return "", "", fmt.Errorf("find guest by mail: %w", err)
	}
	var free []directory.User
	for _, g := range found {
		other := g.Str(p.StampAttribute)
		if strings.HasPrefix(other, directory.StampPrefix) {
			_, src, _ := directory.ParseStamp(other)
			return "", "", fmt.Errorf("mail %s already belongs to guest %s, synced for source user %s: two source users share this mail", mail, g.ID, src)
		}
		free = append(free, g)
	}
	switch {
	case len(free) == 0:
		return "", "", nil
	case len(free) > 1:
		return "", "", fmt.Errorf("%d users of the target have mail %s: resolve by hand", len(free), mail)
	case invitedBefore:
		return free[0].ID, string(plan.Adopt), nil
	}
	g := free[0]
	switch p.Rules.ExistingGuest() {
	case "adopt":
		return g.ID, string(plan.Adopt), nil
	case "fail":
		return "", "", fmt.Errorf("the target already has user %s with mail %s that ctsync did not create (existing_guest = fail)", g.ID, mail)
	default:
		return "", "skip", fmt.Errorf("the target already has user %s with mail %s that ctsync did not create (existing_guest = skip)", g.ID, mail)
	}
}

// update restores the guest if asked, then patches only what differs.
func (c *cycle) update(ctx context.Context, o *outcome) error {
	p, ch := c.p, o.change
	if ch.Action == plan.Restore {
		if err := p.Target.Restore(ctx, ch.GuestID); err != nil && !p.Errors.IsNotFound(err) {
			return fmt.Errorf("restore guest %s: %w", ch.GuestID, err)
		}
	}
	if ch.NeedsDiff {
		props := make([]string, 0, len(ch.Set))
		for k := range ch.Set {
			if k != directory.PropManager {
				props = append(props, k)
			}
		}
		sort.Strings(props)
		g, err := p.Target.Get(ctx, ch.GuestID, props)
		if err != nil {
			return fmt.Errorf("read guest %s: %w", ch.GuestID, err)
		}
		ch.Narrow(*g)
	}
	if len(ch.Set) > 0 {
		if err := p.Target.Update(ctx, ch.GuestID, ch.Set); err != nil {
			return fmt.Errorf("update guest %s: %w", ch.GuestID, err)
		}
	}
	o.change = ch
	o.set, o.old, o.state = ch.Set, ch.Old, guestmap.StateActive
	return nil
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

func (c *cycle) noteArrived(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arrived = append(c.arrived, id)
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

func (c *cycle) setEntry(e guestmap.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.known[e.SourceID] = e
}
