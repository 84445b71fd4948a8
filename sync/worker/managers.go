package worker

import (
	"context"
	"fmt"

	"github.com/ctsync/ctsync/guestmap"
	"github.com/ctsync/ctsync/internal/directory"
)

// fixManagers sets the manager of guests whose manager got a guest this
// cycle, and clears it on guests whose manager left scope or was deleted
// (Entra's own sync never clears it, leaving stale org charts). It scans
// the map only in cycles where a manager may have arrived or left, so a
// quiet cycle costs nothing here.
func (c *cycle) fixManagers(ctx context.Context) error {
	p := c.p
	if !p.Rules.MapsManager() || (len(c.arrived) == 0 && len(c.left) == 0) {
		return nil
	}
	arrived, err := p.Store.GetMany(ctx, p.PairName, c.arrived)
	if err != nil {
		return fmt.Errorf("read arrived managers: %w", err)
	}
	left := make(map[string]bool, len(c.left))
	for _, id := range c.left {
		left[id] = true
	}
	type fix struct {
		e       guestmap.Entry
		manager any // guest ID, or nil to clear
	}
	var fixes []fix
	err = p.Store.Scan(ctx, p.PairName, func(page []guestmap.Entry) error {
		for _, e := range page {
			if e.ManagerSourceID == "" || e.GuestID == "" || (e.State != guestmap.StateActive && e.State != guestmap.StateDisabled) {
				continue
			}
			if m, ok := arrived[e.ManagerSourceID]; ok && m.GuestID != "" && m.State == guestmap.StateActive {
				fixes = append(fixes, fix{e, m.GuestID})
			} else if left[e.ManagerSourceID] {
				fixes = append(fixes, fix{e, nil})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan map for direct reports: %w", err)
	}
	for _, f := range fixes {
		set := map[string]any{directory.PropManager: f.manager}
		rec := guestmap.Record{Time: p.now(), Pair: p.PairName, Cycle: c.id(), SourceID: f.e.SourceID, GuestID: f.e.GuestID,
			Action: "manager", Result: "ok", Changes: changesOf(set, nil)}
		if err := p.Target.Update(ctx, f.e.GuestID, set); err != nil {
			rec.Result, rec.Error = "error", err.Error()
			c.rep.Failures++
		} else {
			c.rep.count("manager", 1)
		}
		if err := p.Store.Apply(ctx, c.lease, guestmap.Batch{Log: []guestmap.Record{rec}}); err != nil {
			return fmt.Errorf("record manager update: %w", err)
		}
	}
	return nil
}
