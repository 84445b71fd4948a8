package graphsim

import (
	"slices"
	"sync"
	"time"
)

// groupIndex is the search index of group $filter lists (and of every
// group list sent with ConsistencyLevel: eventual): like the users'
// searchIndex it trails the directory by Realism.IndexLag. It keeps, per
// group created, changed or deleted within the lag, the states the index
// still shows, each with the time the next write replaced it; a group
// without versions is indexed as it is. Membership is not indexed (lists
// do not show members), so member changes record nothing here.
type groupIndex struct {
	mu      sync.Mutex
	pending map[string][]groupVersion // group ID -> older states, oldest first
}

// groupVersion is a state of a group the index may still show: snap is the
// group as it was until the write at until (nil: it did not exist).
type groupVersion struct {
	snap  *group
	until time.Time
}

// groupIndexBefore records g's state just before a write (or its
// creation, with created); the caller holds t.mu for writing.
func (t *Tenant) groupIndexBefore(g *group, created bool) {
	lag := t.s.currentRealism().IndexLag
	x := &t.gidx
	x.mu.Lock()
	defer x.mu.Unlock()
	if lag <= 0 {
		x.pending = nil
		return
	}
	now := t.s.now()
	x.prune(now.Add(-lag))
	if x.pending == nil {
		x.pending = map[string][]groupVersion{}
	}
	var snap *group
	if !created {
		snap = g.snapshot()
	}
	x.pending[g.id] = append(x.pending[g.id], groupVersion{snap: snap, until: now})
}

// prune drops the versions that ended before cutoff. The caller holds x.mu.
func (x *groupIndex) prune(cutoff time.Time) {
	for id, vs := range x.pending {
		k := 0
		for k < len(vs) && !vs[k].until.After(cutoff) {
			k++
		}
		switch {
		case k == len(vs):
			delete(x.pending, id)
		case k > 0:
			x.pending[id] = slices.Delete(vs, 0, k)
		}
	}
}

// settleGroups lets the group index catch up with every write.
func (t *Tenant) settleGroups() {
	t.gidx.mu.Lock()
	t.gidx.pending = nil
	t.gidx.mu.Unlock()
}

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
	pending map[string][]groupVersion // a copy: safe to read after x.mu
	ids     []string
}

// groupsView opens the group index as of now (lag 0: the directory). The
// caller holds t.mu (reading suffices) while it uses the view.
func (t *Tenant) groupsView(now time.Time, lag time.Duration) *groupView {
	v := &groupView{t: t, ids: t.gids}
	if lag <= 0 {
		return v
	}
	x := &t.gidx
	x.mu.Lock()
	defer x.mu.Unlock()
	v.cutoff = now.Add(-lag)
	x.prune(v.cutoff)
	if len(x.pending) == 0 {
		return v
	}
	v.pending = make(map[string][]groupVersion, len(x.pending))
	ids := slices.Clone(t.gids)
	for id, vs := range x.pending {
		v.pending[id] = slices.Clone(vs)
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
	for _, ver := range v.pending[id] {
		if ver.until.After(v.cutoff) {
			return ver.snap
		}
	}
	return v.t.groups[id]
}
