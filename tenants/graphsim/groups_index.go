package graphsim

import (
	"slices"
	"time"
)

// groupIndex is the search index of group $filter lists (and of every
// group list sent with ConsistencyLevel: eventual): like the users'
// searchIndex it trails the directory by Realism.IndexLag. It keeps, per
// group created, changed or deleted within the lag, the states the index
// still shows, each with the time the next write replaced it; a group
// without versions is indexed as it is. Membership is not indexed (lists
// do not show members), so member changes record nothing here.
type groupIndex = lagIndex[group]

// groupIndexBefore records g's state just before a write (or its
// creation, with created); the caller holds t.mu for writing.
func (t *Tenant) groupIndexBefore(g *group, created bool) {
	lag := t.s.currentRealism().IndexLag
	var snap *group
	if !created && lag > 0 { // no copies while the index is off
		snap = g.snapshot()
	}
	t.gidx.record(g.id, snap, lag, t.s.now)
}

// settleGroups lets the group index catch up with every write.
func (t *Tenant) settleGroups() { t.gidx.settle() }

// snapshot copies what lists and filters read of a group (no members).
func (g *group) snapshot() *group {
	return &group{id: g.id, displayName: g.displayName, mailNick: g.mailNick, description: g.description,
		createdAt: g.createdAt, created: g.created, visibleAt: g.visibleAt, bornAt: g.bornAt}
}

// groupView is the groups as a list request sees them: ids in ID order
// and the state of each.
type groupView struct {
	t       *Tenant
	cutoff  time.Time
	pending map[string][]indexVersion[group] // a read-only copy: safe to read after x.mu
	ids     []string
}

// groupsView opens the group index as of now (lag 0: the directory). The
// caller holds t.mu (reading suffices) while it uses the view.
func (t *Tenant) groupsView(now time.Time, lag time.Duration) *groupView {
	v := &groupView{t: t, ids: t.gids}
	pending, extra, cutoff := t.gidx.open(now, lag)
	v.cutoff = cutoff
	if pending == nil {
		return v
	}
	v.pending = pending
	ids := slices.Clone(t.gids)
	for _, id := range extra {
		if _, live := t.groups[id]; !live {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	v.ids = slices.Compact(ids)
	return v
}

// get is the indexed state of a group, nil when the index does not show it.
func (v *groupView) get(id string) *group {
	if snap, found := indexedAt(v.pending[id], v.cutoff); found {
		return snap
	}
	return v.t.groups[id]
}
