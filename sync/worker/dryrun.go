package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/sourcegraph/conc/pool"

	"github.com/ctsync/ctsync/sync/plan"
)

// Plan runs the whole cycle without a single write: no lease, no map
// write, no Graph write. It reads what a real cycle would read (the source
// from the committed delta link, the map, the target's guests for updates
// and matches) and returns the plan a real cycle would apply now, with
// creates resolved into create, adopt or skip as the apply step would.
func (p *Pair) Plan(ctx context.Context) (*plan.Plan, error) {
	rep := Report{Pair: p.PairName, Start: p.now()}
	c := &cycle{p: p, rep: &rep, dry: true}
	if err := c.run(ctx); err != nil {
		return nil, fmt.Errorf("pair %s: %w", p.PairName, err)
	}
	c.dryPlan.Digest = plan.Digest(c.dryPlan, p.Rules.Fingerprint())
	if err := c.resolveDry(ctx, c.dryPlan); err != nil {
		return nil, fmt.Errorf("pair %s: %w", p.PairName, err)
	}
	return c.dryPlan, nil
}

// resolveDry does the read-only half of applying: narrow updates to the
// properties that differ, and match creates against existing guests. The
// changes are resolved concurrently (dryReaders at a time; Graph reads
// only, paced like any other), as each needs one to three reads in a row:
// one at a time, a first sync's plan of 100,000 creates took minutes.
func (c *cycle) resolveDry(ctx context.Context, pl *plan.Plan) error {
	keep := make([]bool, len(pl.Changes))
	wp := pool.New().WithErrors().WithContext(ctx).WithMaxGoroutines(dryReaders)
	for i := range pl.Changes {
		wp.Go(func(ctx context.Context) error {
			var err error
			keep[i], err = c.resolveOne(ctx, &pl.Changes[i])
			return err
		})
	}
	if err := wp.Wait(); err != nil {
		return err
	}
	kept := pl.Changes[:0]
	for i, ch := range pl.Changes {
		if keep[i] {
			kept = append(kept, ch)
		} else {
			pl.Unchanged++
		}
	}
	pl.Changes = kept
	return nil
}

// dryReaders is how many changes a dry run resolves at once.
const dryReaders = 16

// resolveOne resolves one change of a dry run in place; false: it changes
// nothing after all (only the stored hash was stale).
func (c *cycle) resolveOne(ctx context.Context, ch *plan.Change) (bool, error) {
	switch {
	case ch.NeedsDiff:
		g, err := c.p.Target.Get(ctx, ch.GuestID, c.updateProps(*ch))
		if err != nil {
			return false, fmt.Errorf("read guest %s: %w", ch.GuestID, err)
		}
		if err := plan.CheckOwned(*g, c.p.StampAttribute, c.p.Stamp(ch.SourceID), ch.Action); err != nil {
			ch.Action, ch.Reason = plan.Skip, "would be refused, "+err.Error()
			return true, nil
		}
		ch.Narrow(*g)
		if len(ch.Set) == 0 && ch.Action == plan.Update {
			return false, nil
		}
	case ch.Action == plan.Create:
		var marked bool
		if e, known := c.entry(ch.SourceID); known {
			marked = invitationMarked(&e)
		}
		in, err := c.matchInput(ctx, *ch, marked)
		if err != nil {
			ch.Action, ch.Reason = plan.Skip, "would fail: "+err.Error()
			return true, nil
		}
		m, err := c.confirm(ctx, in, plan.Match(in))
		switch {
		case err != nil:
			ch.Action, ch.Reason = plan.Skip, "would fail: "+err.Error()
		case m.Kind == plan.Refuse && m.Conflict:
			ch.Action, ch.Reason = plan.Skip, "would be refused, "+refusal(m).Error()
		case m.Kind == plan.Refuse:
			ch.Action, ch.Reason = plan.Skip, "would fail: "+m.Reason
		case m.Kind == plan.SkipFound:
			// The create would hold the user for an admin.
			ch.Action, ch.Staged, ch.GuestID, ch.Reason = plan.Stage, plan.Adopt, m.GuestID, m.Reason
		case m.Kind == plan.AdoptOwn || m.Kind == plan.AdoptFound:
			ch.Action, ch.GuestID = plan.Adopt, m.GuestID
			ch.Reason += "; " + m.Reason
		}
	}
	return true, nil
}

// ErrPlanMoved: a reviewed plan (`ctsync plan --out`) no longer matches
// what the pair would do now, so it is not applied.
var ErrPlanMoved = errors.New("the source or the map moved on since the plan was made")

// Reviewed is a pair whose cycle applies exactly a reviewed plan: it runs
// like any cycle, but once it has planned, it goes on only if its plan has
// the reviewed Digest (see plan.Digest), and otherwise stops before any
// write with ErrPlanMoved.
type Reviewed struct {
	*Pair
	Digest string
}

// Cycle runs the pair's cycle under the reviewed plan.
func (r Reviewed) Cycle(ctx context.Context) Report { return r.cycle(ctx, r.Digest) }
