package worker

import (
	"context"
	"fmt"
	"strings"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
)

// StampFacts streams the guests stamped in the pair's target as facts for
// guestmap.Rebuild.
func (p *Pair) StampFacts(ctx context.Context) guestmap.FactPages {
	return func(yield func([]guestmap.Fact) error) error {
		return p.Target.Stamped(ctx, func(users []directory.User) error {
			facts := make([]guestmap.Fact, 0, len(users))
			for _, u := range users {
				facts = append(facts, guestmap.Fact{GuestID: u.ID, Stamp: u.Str(p.StampAttribute),
					GuestUPN: u.Str(directory.PropMail), Disabled: !u.Enabled()})
			}
			return yield(facts)
		})
	}
}

// holdsNothing reports whether the store holds nothing of the pair: no
// cycle ever recorded, no delta link, no entry. That is a first sync, or a
// store whose state was lost (FLUSHALL, a Redis restarted without
// persistence, a deleted file); the two look alike from the store, and
// both are handled alike (see recoverMap). The status, read already, rules
// out almost every cycle, so the two extra reads happen only when it is
// empty.
func (c *cycle) holdsNothing(ctx context.Context) (bool, error) {
	st := c.status
	if !st.CycleEnd.IsZero() || !st.LastErrorAt.IsZero() || len(st.History) > 0 || st.Running != "" {
		return false, nil
	}
	link, err := c.p.Store.DeltaLink(ctx, c.p.PairName)
	if err != nil {
		return false, fmt.Errorf("read delta link: %w", err)
	}
	if link != "" {
		return false, nil
	}
	n, err := c.p.Store.Count(ctx, c.p.PairName)
	if err != nil {
		return false, fmt.Errorf("count map entries: %w", err)
	}
	return n == 0, nil
}

// recoverMap rebuilds the map of a pair the store knows nothing of from
// the stamps in the target, before the cycle plans anything: the stamps
// are the truth and the store a cache of them, so a lost store costs one
// stamp search, not a user invited twice or a guest ctsync no longer
// recognises. On a first sync the search finds nothing (or the guests of
// an earlier installation, which are taken back). Guests ctsync invited
// but had not stamped when the store was lost carry no stamp: the create
// step finds them by mail and, unless the pair adopts existing guests,
// holds them for an admin's decision (see create).
func (c *cycle) recoverMap(ctx context.Context) error {
	p := c.p
	if empty, err := c.holdsNothing(ctx); err != nil || !empty {
		return err
	}
	// A pair whose cycles wrote state in this process holds nothing now:
	// the store lost it under us, whether or not any guest was stamped yet.
	lostHere := p.wroteState.Load()
	ep, err := p.Store.Epoch(ctx)
	if err != nil {
		return fmt.Errorf("read the store's epoch: %w", err)
	}
	res, err := guestmap.Rebuild(ctx, p.Store, c.lease, p.StampFacts(ctx), guestmap.RebuildOptions{SourceTenantID: p.SourceTenantID})
	if err != nil {
		return fmt.Errorf("rebuild the map from the target's stamps: %w", err)
	}
	c.rep.Recovered = res.Mapped
	level, msg := p.log().Info, "no state for the pair in the store (a first sync, or a store whose state was lost): the map was rebuilt from the stamps in the target"
	switch {
	case res.Mapped > 0:
		level = p.log().Warn
		msg = "no state for the pair in the store, but the target holds guests ctsync stamped: the store's state was lost (FLUSHALL, a Redis restarted empty, a new file); the map was rebuilt from the stamps"
	case lostHere:
		level = p.log().Warn
		msg = "no state for the pair in the store, though this ctsync recorded the pair's cycles there: the store's state was lost (FLUSHALL, a Redis restarted empty, a new file); the map was rebuilt from the stamps (none of the pair's guests was stamped yet)"
	}
	level(msg, "pair", p.PairName, "epoch", ep.ID, "epochCreated", ep.Created, "stamped", res.Facts, "mapped", res.Mapped,
		"foreign", res.Foreign, "duplicates", len(res.Duplicates))
	if p.Groups != nil {
		gr, err := p.RebuildGroups(ctx, c.lease)
		if err != nil {
			return fmt.Errorf("rebuild the group entries from the target's group stamps: %w", err)
		}
		if gr.Mapped > 0 {
			p.log().Warn("the target holds groups ctsync stamped for this pair: their entries were rebuilt from the stamps",
				"pair", p.PairName, "stamped", gr.Stamped, "mapped", gr.Mapped, "duplicates", len(gr.Duplicates))
		}
	}
	return nil
}

// dryRecoveryNote is what a dry run says of a pair the store knows nothing
// of: a real cycle rebuilds the map from the target's stamps first (see
// recoverMap), which a dry run cannot do, so guests an earlier
// installation (or a lost store) stamped are not in the plan it shows, nor
// the lifecycle actions they would get. It counts them, reading the
// stamps as the rebuild would, and says so; "" when there are none.
func (c *cycle) dryRecoveryNote(ctx context.Context) (string, error) {
	p := c.p
	if empty, err := c.holdsNothing(ctx); err != nil || !empty {
		return "", err
	}
	ours := 0
	err := p.StampFacts(ctx)(func(facts []guestmap.Fact) error {
		for _, f := range facts {
			if tenant, _, ok := directory.ParseStamp(f.Stamp); ok && strings.EqualFold(tenant, p.SourceTenantID) {
				ours++
			}
		}
		return nil
	})
	if err != nil || ours == 0 {
		return "", err
	}
	return fmt.Sprintf("the store holds nothing of this pair, but %d guests in the target carry its stamps: the first real cycle maps them first "+
		"(and then applies this pair's rules to them, out-of-scope ones included), which this plan does not show; "+
		"run `ctsync map rebuild --pair %s` first to plan with them", ours, p.PairName), nil
}
